//! Unit tests of `query`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::eval::str_at;
use super::*;
use proptest::prelude::*;
use serde_json::json;

/// An event with every field a parameter reads.
fn object_event() -> Value {
    json!({
        "type": "ObjectEvent",
        "eventID": "urn:uuid:11111111-1111-4111-8111-111111111111",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "https://ref.gs1.org/cbv/Disp-in_transit",
        "persistentDisposition": {"set": ["completeness_verified"], "unset": ["urn:epcglobal:cbv:disp:completeness_inferred"]},
        "eventTime": "2024-05-01T10:00:00.000+02:00",
        "recordTime": "2024-05-02T00:00:00.000Z",
        "eventTimeZoneOffset": "+02:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200, "uom": "KGM"}],
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
        "bizLocation": {"id": "https://id.gs1.org/414/0614141073467"},
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1152"}],
        "sourceList": [{"type": "https://ref.gs1.org/cbv/SDT-owning_party", "source": "urn:epc:id:pgln:0614141.00001"}],
        "destinationList": [{"type": "location", "destination": "urn:epc:id:sgln:0614141.00002.0"}],
        "errorDeclaration": {
            "declarationTime": "2024-05-03T00:00:00.000Z",
            "reason": "incorrect_data",
            "correctiveEventIDs": ["urn:uuid:22222222-2222-4222-8222-222222222222"]
        },
        "sensorElementList": [{
            "sensorMetadata": {
                "time": "2024-05-01T08:00:00Z",
                "startTime": "2024-05-01T07:00:00Z",
                "endTime": "2024-05-01T09:00:00Z",
                "deviceID": "urn:epc:id:giai:4000001.111",
                "bizRules": "https://example.com/rules/1"
            },
            "sensorReport": [
                {"type": "gs1:Temperature", "value": 26.0, "uom": "CEL", "dataProcessingMethod": "https://example.com/dpm/1"},
                {"type": "Temperature", "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
                 "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
                 "stringValue": "SW1", "hexBinaryValue": "f0f0", "uriValue": "https://example.com/x", "booleanValue": true}
            ]
        }],
    })
}

fn transformation_event() -> Value {
    json!({
        "type": "TransformationEvent",
        "eventID": "urn:uuid:33333333-3333-4333-8333-333333333333",
        "eventTime": "2024-05-01T12:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "transformationID": "urn:uuid:44444444-4444-4444-8444-444444444444",
        "inputEPCList": ["urn:epc:id:sgtin:4012345.011122.25"],
        "inputQuantityList": [{"epcClass": "urn:epc:idpat:sgtin:4012345.011111.*", "quantity": 10}],
        "outputEPCList": ["https://id.gs1.org/01/04012345778892/21/2"],
        "outputQuantityList": [{"epcClass": "https://id.gs1.org/01/04012345778960/10/L7", "quantity": 5.5}],
    })
}

fn aggregation_event() -> Value {
    json!({
        "type": "AggregationEvent",
        "eventTime": "2024-04-01T12:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "ADD",
        "parentID": "urn:epc:id:sscc:0614141.1234567890",
        "childEPCs": ["https://id.gs1.org/01/10614141073464/21/7"],
        "childQuantityList": [{"epcClass": "https://id.gs1.org/01/10614141073464", "quantity": 3}],
    })
}

fn q(query: &str) -> EventQuery {
    EventQuery::parse_query_string(query).unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// Each case: a query, then whether the object, transformation and aggregation events match.
#[test]
fn every_parameter_matches_and_refuses() {
    let events = [object_event(), transformation_event(), aggregation_event()];
    let cases: &[(&str, [bool; 3])] = &[
        ("", [true, true, true]),
        ("eventType=ObjectEvent", [true, false, false]),
        (
            "eventType=TransformationEvent|AggregationEvent",
            [false, true, true],
        ),
        ("GE_eventTime=2024-05-01T08:00:00.000Z", [true, true, false]),
        (
            "GE_eventTime=2024-05-01T08:00:00.001Z",
            [false, true, false],
        ),
        (
            "LT_eventTime=2024-05-01T08:00:00.000Z",
            [false, false, true],
        ),
        (
            "LT_eventTime=2024-05-01T10:00:00.000%2B02:00",
            [false, false, true],
        ),
        (
            "LT_eventTime=2024-05-01T10:00:00.001+02:00",
            [true, false, true],
        ),
        ("GE_recordTime=2024-05-02T00:00:00Z", [true, false, false]),
        ("LT_recordTime=2024-05-02T00:00:00Z", [false, false, false]),
        ("LT_recordTime=2024-05-03T00:00:00Z", [true, false, false]),
        ("EQ_action=OBSERVE", [true, false, false]),
        ("EQ_action=ADD|DELETE", [false, false, true]),
        ("EQ_bizStep=shipping", [true, false, false]),
        (
            "EQ_bizStep=urn:epcglobal:cbv:bizstep:shipping",
            [true, false, false],
        ),
        (
            "EQ_bizStep=https://ref.gs1.org/cbv/BizStep-shipping|receiving",
            [true, false, false],
        ),
        ("EQ_bizStep=receiving", [false, false, false]),
        ("EQ_disposition=in_transit", [true, false, false]),
        (
            "EQ_disposition=urn:epcglobal:cbv:disp:in_transit",
            [true, false, false],
        ),
        ("EQ_disposition=damaged", [false, false, false]),
        (
            "EQ_persistentDisposition_set=completeness_verified",
            [true, false, false],
        ),
        (
            "EQ_persistentDisposition_set=completeness_inferred",
            [false, false, false],
        ),
        (
            "EQ_persistentDisposition_unset=completeness_inferred",
            [true, false, false],
        ),
        (
            "EQ_persistentDisposition_unset=completeness_verified",
            [false, false, false],
        ),
        (
            "EQ_readPoint=urn:epc:id:sgln:0614141.07346.1234",
            [true, false, false],
        ),
        (
            "EQ_readPoint=https://id.gs1.org/414/0614141073467/254/1234",
            [true, false, false],
        ),
        (
            "EQ_readPoint=urn:epc:id:sgln:0614141.07346.1235",
            [false, false, false],
        ),
        (
            "WD_readPoint=urn:epc:id:sgln:0614141.07346.1234",
            [true, false, false],
        ),
        (
            "WD_readPoint=urn:epc:id:sgln:0614141.07346.0",
            [false, false, false],
        ),
        (
            "EQ_bizLocation=urn:epc:id:sgln:0614141.07346.0",
            [true, false, false],
        ),
        (
            "EQ_bizLocation=urn:epc:id:sgln:0614141.07346.1",
            [false, false, false],
        ),
        (
            "WD_bizLocation=https://example.org/414/0614141073467",
            [true, false, false],
        ),
        (
            "WD_bizLocation=urn:epc:id:sgln:0614141.07347.0",
            [false, false, false],
        ),
        (
            "EQ_transformationID=urn:uuid:44444444-4444-4444-8444-444444444444",
            [false, true, false],
        ),
        ("EQ_transformationID=urn:uuid:5", [false, false, false]),
        (
            "MATCH_epc=https://id.gs1.org/01/10614141073464/21/2017",
            [true, false, false],
        ),
        (
            "MATCH_epc=urn:epc:idpat:sgtin:0614141.107346.*",
            [true, false, true],
        ),
        (
            "MATCH_epc=urn:epc:idpat:sgtin:0614141.*.*",
            [true, false, true],
        ),
        (
            "MATCH_epc=urn:epc:idpat:sgtin:4012345.*.*",
            [false, false, false],
        ),
        (
            "MATCH_parentID=urn:epc:id:sscc:0614141.1234567890",
            [false, false, true],
        ),
        (
            "MATCH_parentID=urn:epc:idpat:sscc:0614141.*",
            [false, false, true],
        ),
        (
            "MATCH_parentID=urn:epc:idpat:sscc:0614142.*",
            [false, false, false],
        ),
        (
            "MATCH_inputEPC=urn:epc:id:sgtin:4012345.011122.25",
            [false, true, false],
        ),
        (
            "MATCH_inputEPC=https://id.gs1.org/01/04012345778892/21/2",
            [false, false, false],
        ),
        (
            "MATCH_outputEPC=urn:epc:id:sgtin:4012345.077889.2",
            [false, true, false],
        ),
        (
            "MATCH_outputEPC=urn:epc:id:sgtin:4012345.011122.25",
            [false, false, false],
        ),
        (
            "MATCH_anyEPC=urn:epc:idpat:sgtin:4012345.*.*",
            [false, true, false],
        ),
        (
            "MATCH_anyEPC=urn:epc:id:sscc:0614141.1234567890|urn:epc:id:sgtin:0614141.107346.2017",
            [true, false, true],
        ),
        (
            "MATCH_anyEPC=urn:epc:id:sgtin:0614141.107346.1",
            [false, false, false],
        ),
        (
            "MATCH_epcClass=urn:epc:class:lgtin:4012345.012345.998877",
            [true, false, false],
        ),
        (
            "MATCH_epcClass=https://id.gs1.org/01/04012345123456/10/998877",
            [true, false, false],
        ),
        (
            "MATCH_epcClass=urn:epc:idpat:sgtin:4012345.012345.*",
            [true, false, false],
        ),
        (
            "MATCH_epcClass=urn:epc:idpat:sgtin:0614141.107346.*",
            [false, false, true],
        ),
        (
            "MATCH_epcClass=urn:epc:class:lgtin:4012345.012345.1",
            [false, false, false],
        ),
        (
            "MATCH_inputEPCClass=urn:epc:idpat:sgtin:4012345.011111.*",
            [false, true, false],
        ),
        (
            "MATCH_inputEPCClass=urn:epc:idpat:sgtin:4012345.077896.*",
            [false, false, false],
        ),
        (
            "MATCH_outputEPCClass=urn:epc:class:lgtin:4012345.077896.L7",
            [false, true, false],
        ),
        (
            "MATCH_outputEPCClass=urn:epc:idpat:sgtin:4012345.011111.*",
            [false, false, false],
        ),
        (
            "MATCH_anyEPCClass=urn:epc:idpat:sgtin:4012345.*.*",
            [true, true, false],
        ),
        (
            "MATCH_anyEPCClass=urn:epc:idpat:sgtin:9999999.*.*",
            [false, false, false],
        ),
        ("EQ_quantity=200", [true, false, false]),
        ("EQ_quantity=5.5|3", [false, true, true]),
        ("GT_quantity=10", [true, false, false]),
        ("GE_quantity=10", [true, true, false]),
        ("LT_quantity=5.5", [false, false, true]),
        ("LE_quantity=5.5", [false, true, true]),
        (
            "EQ_eventID=urn:uuid:11111111-1111-4111-8111-111111111111",
            [true, false, false],
        ),
        ("EQ_eventID=urn:uuid:0", [false, false, false]),
        ("EXISTS_errorDeclaration=true", [true, false, false]),
        ("EXISTS_errorDeclaration", [true, false, false]),
        ("EXISTS_errorDeclaration=false", [true, true, true]),
        (
            "GE_errorDeclarationTime=2024-05-03T00:00:00Z",
            [true, false, false],
        ),
        (
            "GE_errorDeclarationTime=2024-05-03T00:00:00.001Z",
            [false, false, false],
        ),
        (
            "LT_errorDeclarationTime=2024-05-03T00:00:00.001Z",
            [true, false, false],
        ),
        (
            "LT_errorDeclarationTime=2024-05-03T00:00:00Z",
            [false, false, false],
        ),
        (
            "EQ_errorReason=https://ref.gs1.org/cbv/ER-incorrect_data",
            [true, false, false],
        ),
        ("EQ_errorReason=did_not_occur", [false, false, false]),
        (
            "EQ_correctiveEventID=urn:uuid:22222222-2222-4222-8222-222222222222",
            [true, false, false],
        ),
        (
            "EQ_correctiveEventID=urn:uuid:11111111-1111-4111-8111-111111111111",
            [false, false, false],
        ),
        (
            "EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0614141073467:1152",
            [true, false, false],
        ),
        (
            "EQ_bizTransaction_urn:epcglobal:cbv:btt:po=urn:epcglobal:cbv:bt:0614141073467:1152",
            [true, false, false],
        ),
        (
            "EQ_bizTransaction_inv=urn:epcglobal:cbv:bt:0614141073467:1152",
            [false, false, false],
        ),
        (
            "EQ_source_owning_party=https://id.gs1.org/417/0614141000012",
            [true, false, false],
        ),
        (
            "EQ_source_possessing_party=urn:epc:id:pgln:0614141.00001",
            [false, false, false],
        ),
        (
            "EQ_destination_location=urn:epc:id:sgln:0614141.00002.0",
            [true, false, false],
        ),
        (
            "EQ_destination_location=urn:epc:id:sgln:0614141.00003.0",
            [false, false, false],
        ),
        ("EXISTS_sensorElementList", [true, false, false]),
        ("GE_time=2024-05-01T08:00:00Z", [true, false, false]),
        ("GE_time=2024-05-01T08:00:01Z", [false, false, false]),
        ("LT_time=2024-05-01T08:00:01Z", [true, false, false]),
        ("LT_time=2024-05-01T08:00:00Z", [false, false, false]),
        ("GE_startTime=2024-05-01T07:00:00Z", [true, false, false]),
        ("GE_startTime=2024-05-01T07:00:01Z", [false, false, false]),
        ("LT_startTime=2024-05-01T07:00:01Z", [true, false, false]),
        ("LT_startTime=2024-05-01T07:00:00Z", [false, false, false]),
        ("GE_endTime=2024-05-01T09:00:00Z", [true, false, false]),
        ("GE_endTime=2024-05-01T09:00:01Z", [false, false, false]),
        ("LT_endTime=2024-05-01T09:00:01Z", [true, false, false]),
        ("LT_endTime=2024-05-01T09:00:00Z", [false, false, false]),
        ("EQ_type=Temperature", [true, false, false]),
        (
            "EQ_type=https://gs1.org/voc/Temperature",
            [true, false, false],
        ),
        ("EQ_type=Humidity", [false, false, false]),
        (
            "EQ_deviceID=urn:epc:id:giai:4000001.111",
            [true, false, false],
        ),
        (
            "EQ_deviceID=urn:epc:id:giai:4000001.112",
            [false, false, false],
        ),
        (
            "EQ_dataProcessingMethod=https://example.com/dpm/1",
            [true, false, false],
        ),
        (
            "EQ_dataProcessingMethod=https://example.com/dpm/2",
            [false, false, false],
        ),
        (
            "EQ_bizRules=https://example.com/rules/1",
            [true, false, false],
        ),
        (
            "EQ_bizRules=https://example.com/rules/2",
            [false, false, false],
        ),
        (
            "EQ_microorganism=https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
            [true, false, false],
        ),
        (
            "EQ_microorganism=https://www.ncbi.nlm.nih.gov/taxonomy/1",
            [false, false, false],
        ),
        (
            "EQ_chemicalSubstance=https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
            [true, false, false],
        ),
        (
            "EQ_chemicalSubstance=https://identifiers.org/inchikey:X",
            [false, false, false],
        ),
        ("EQ_stringValue=SW1", [true, false, false]),
        ("EQ_stringValue=sw1", [false, false, false]),
        ("EQ_hexBinaryValue=F0F0", [true, false, false]),
        ("EQ_hexBinaryValue=F0F1", [false, false, false]),
        ("EQ_uriValue=https://example.com/x", [true, false, false]),
        ("EQ_uriValue=https://example.com/y", [false, false, false]),
        ("EQ_booleanValue=true", [true, false, false]),
        ("EQ_booleanValue=false", [false, false, false]),
        // Parameters restrict together.
        ("eventType=ObjectEvent&EQ_action=ADD", [false, false, false]),
        (
            "eventType=ObjectEvent&EQ_action=OBSERVE&EQ_bizStep=shipping",
            [true, false, false],
        ),
    ];
    for (query, expected) in cases {
        let parsed = q(query);
        let got = [0, 1, 2].map(|i| parsed.matches(&events[i]));
        assert_eq!(&got, expected, "{query}");
    }
}

#[test]
fn resources_restrict_like_their_parameters() {
    let events = [object_event(), transformation_event(), aggregation_event()];
    let cases = [
        (
            Resource::EventType,
            "AggregationEvent",
            [false, false, true],
        ),
        (
            Resource::Epc,
            "https://id.gs1.org/01/10614141073464/21/2017",
            [true, false, false],
        ),
        (
            Resource::Epc,
            "urn:epc:class:lgtin:4012345.077896.L7",
            [false, true, false],
        ),
        (
            Resource::Epc,
            "urn:epc:id:sscc:0614141.1234567890",
            [false, false, true],
        ),
        (
            Resource::BizStep,
            "urn:epcglobal:cbv:bizstep:shipping",
            [true, false, false],
        ),
        (Resource::Disposition, "in_transit", [true, false, false]),
        (
            Resource::ReadPoint,
            "https://id.gs1.org/414/0614141073467/254/1234",
            [true, false, false],
        ),
        (
            Resource::BizLocation,
            "urn:epc:id:sgln:0614141.07346.0",
            [true, false, false],
        ),
    ];
    for (resource, value, expected) in cases {
        let mut query = EventQuery::default();
        query.restrict(resource.filter(value).unwrap());
        let got = [0, 1, 2].map(|i| query.matches(&events[i]));
        assert_eq!(got, expected, "{resource:?} {value}");
    }
}

#[test]
fn paging_and_ordering_parameters() {
    let query =
        q("orderBy=eventTime&orderDirection=ASC&eventCountLimit=2&perPage=30&nextPageToken=abc");
    assert_eq!(query.order_by, Some(OrderBy::EventTime));
    assert_eq!(query.order_direction, OrderDirection::Ascending);
    assert_eq!(query.event_count_limit, Some(2));
    assert_eq!(query.per_page, Some(30));
    assert_eq!(query.next_page_token.as_deref(), Some("abc"));
    let mut events = vec![
        object_event(),
        transformation_event(),
        aggregation_event(),
        json!({}),
    ];
    query.sort(&mut events);
    let order: Vec<Option<&str>> = events.iter().map(|e| str_at(e, "type")).collect();
    assert_eq!(
        order,
        [
            Some("AggregationEvent"),
            Some("ObjectEvent"),
            Some("TransformationEvent"),
            None
        ]
    );
    q("orderBy=eventTime").sort(&mut events);
    let order: Vec<Option<&str>> = events.iter().map(|e| str_at(e, "type")).collect();
    assert_eq!(
        order,
        [
            Some("TransformationEvent"),
            Some("ObjectEvent"),
            Some("AggregationEvent"),
            None
        ]
    );
    let mut events = vec![transformation_event(), object_event()];
    q("orderBy=recordTime&orderDirection=DESC").sort(&mut events);
    assert_eq!(str_at(&events[0], "type"), Some("ObjectEvent"));

    let query = q("maxEventCount=2");
    assert!(query.check_count(2).is_ok());
    let err = query.check_count(3).unwrap_err();
    assert_eq!(err.exception(), EpcisException::QueryTooLargeException);
    assert_eq!(err.status(), 413);
    assert_eq!(
        q("EQ_eventID=a|b").event_ids(),
        Some(&["a".to_owned(), "b".to_owned()][..])
    );
    assert_eq!(q("").event_ids(), None);
}

#[test]
fn bad_queries_are_refused_with_the_binding_exception() {
    let refused = |query: &str| {
        EventQuery::parse_query_string(query)
            .map(|_| ())
            .expect_err(query)
    };
    for query in [
        "GE_eventTime=yesterday",
        "EQ_action=SHIPPED",
        "orderDirection=SIDEWAYS",
        "orderBy=quantity",
        "eventCountLimit=0",
        "perPage=-1",
        "maxEventCount=1.5",
        "EQ_booleanValue=maybe",
        "GT_quantity=lots",
        "eventType=",
        "EQ_bizStep=shipping||receiving",
        "MATCH_epc=urn:epc:idpat:sgtin:*.107346.*",
        "nextPageToken=",
        "GE_eventTime=2024-05-01T10:00:00.000Z|2024-05-01T10:00:00.000Z",
    ] {
        let err = refused(query);
        assert!(
            matches!(err, QueryError::Invalid { .. }),
            "{query}: {err:?}"
        );
        assert_eq!(
            err.exception(),
            EpcisException::QueryParameterException,
            "{query}"
        );
        assert_eq!(err.status(), 400);
    }
    for query in [
        "GE_eventDate=2024-05-01T00:00:00Z",
        "EQ_bizstep=shipping",
        "foo=bar",
    ] {
        let err = refused(query);
        assert!(
            matches!(err, QueryError::Unknown { .. }),
            "{query}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    for query in [
        "EQ_ex:field=1",
        "EXISTS_ILMD_ex:lot",
        "EQ_INNER_ex:field=1",
        "GE_value_CEL=20",
        "LT_maxValue_CEL=30",
        "GE_percRank=50",
        "EQ_quantity_KGM=1",
        "HASATTR_ex:attr=x",
        "EQATTR_bizLocation_ex:attr=x",
        "orderBy=ex:weight",
        "EQ_ERROR_DECLARATION_ex:reason=x",
        "GT_SENSORREPORT_ex:x=1",
    ] {
        let err = refused(query);
        assert!(
            matches!(err, QueryError::Unsupported { .. }),
            "{query}: {err:?}"
        );
        assert_eq!(err.exception(), EpcisException::ImplementationException);
        assert_eq!(err.status(), 501);
    }
    for query in [
        "EQ_action=ADD&EQ_action=OBSERVE",
        "eventCountLimit=1&maxEventCount=1&orderBy=eventTime",
        "eventCountLimit=1",
    ] {
        let err = refused(query);
        assert!(
            matches!(err, QueryError::Repeated { .. } | QueryError::Conflict(_)),
            "{query}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    let many: Vec<String> = (0..=MAX_PARAMETERS)
        .map(|i| format!("EQ_eventID{i}=x"))
        .collect();
    assert!(matches!(
        refused(&many.join("&")),
        QueryError::Unknown { .. }
    ));
    let many: Vec<(String, String)> = (0..=MAX_PARAMETERS)
        .map(|i| (format!("EQ_bizTransaction_t{i}"), "x".to_owned()))
        .collect();
    assert!(matches!(
        EventQuery::from_pairs(many),
        Err(QueryError::Conflict(_))
    ));
    let values = vec!["x"; MAX_VALUES + 1].join("|");
    assert!(matches!(
        refused(&format!("EQ_eventID={values}")),
        QueryError::Invalid { .. }
    ));
}

#[test]
fn url_decoding() {
    // '+' of an offset left unescaped arrives as a space and is read as '+'.
    let query = q("GE_eventTime=2024-05-01T10:00:00.000+02:00");
    assert_eq!(
        query.filters,
        vec![Filter::Time {
            field: TimeField::EventTime,
            bound: Bound::AtOrAfter,
            at: Timestamp::parse_rfc3339("2024-05-01T08:00:00Z").unwrap(),
        }]
    );
    assert_eq!(
        query,
        q("GE_eventTime=2024-05-01T10%3A00%3A00.000%2B02%3A00")
    );
    assert_eq!(
        q("EQ_eventID=ni%3A%2F%2F%2Fsha-256%3Babc%3Fver%3DCBV2.0").event_ids(),
        Some(&["ni:///sha-256;abc?ver=CBV2.0".to_owned()][..])
    );
    assert!(EventQuery::parse_query_string("EQ_eventID=%zz").is_err());
}

#[test]
fn json_queries() {
    let query = EventQuery::from_json(&json!({
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/query-schema.json",
        "eventType": ["ObjectEvent"],
        "GE_eventTime": "2024-05-01T00:00:00+02:00",
        "EQ_quantity": [200, 3],
        "GT_quantity": 1,
        "EXISTS_errorDeclaration": null,
        "EQ_booleanValue": true,
        "orderBy": "eventTime",
        "eventCountLimit": 10,
    }))
    .unwrap();
    assert_eq!(query.event_count_limit, Some(10));
    assert!(query.matches(&object_event()));
    assert!(!query.matches(&transformation_event()));
    assert!(matches!(
        EventQuery::from_json(&json!({"EQ_action": {"x": 1}})),
        Err(QueryError::Invalid { .. })
    ));
    assert!(matches!(
        EventQuery::from_json(&json!([1])),
        Err(QueryError::Conflict(_))
    ));
}

proptest! {
    /// `GE_` and `LT_` of one instant split events in two, whatever the offsets written.
    #[test]
    fn time_bounds_split_events(
        event_ms in 0u64..4_000_000_000_000,
        bound_ms in 0u64..4_000_000_000_000,
        offset_minutes in -14i64 * 60..=14 * 60,
    ) {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let offset = format!(
            "{sign}{:02}:{:02}",
            offset_minutes.abs() / 60,
            offset_minutes.abs() % 60
        );
        // The event's time written in its local offset.
        let local = Timestamp(event_ms);
        let shifted = i128::from(event_ms) + i128::from(offset_minutes) * 60_000;
        prop_assume!(shifted >= 0);
        let text = Timestamp(u64::try_from(shifted).unwrap()).to_rfc3339();
        let text = format!("{}{offset}", text.trim_end_matches('Z'));
        prop_assert_eq!(Timestamp::parse_rfc3339(&text).unwrap(), local);
        let event = json!({"eventTime": text});
        let bound = Timestamp(bound_ms).to_rfc3339();
        let ge = q(&format!("GE_eventTime={bound}")).matches(&event);
        let lt = q(&format!("LT_eventTime={bound}")).matches(&event);
        prop_assert_ne!(ge, lt);
        prop_assert_eq!(ge, event_ms >= bound_ms);
    }

    /// Any query string is read or refused, never a panic.
    #[test]
    fn any_query_string_is_read_or_refused(query in "[A-Za-z_=&|%:.0-9+ -]{0,80}") {
        let _ = EventQuery::parse_query_string(&query);
    }
}
