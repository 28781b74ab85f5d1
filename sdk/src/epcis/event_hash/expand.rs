//! Bare-word expansion: the vocabulary terms of the EPCIS 2.0 JSON-LD context, and
//! compact IRIs, expanded as the Event Hash ID algorithm's step 1 asks.

use super::*;

#[rustfmt::skip]
pub(super) const BIZ_STEPS: &[&str] = &[
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
    "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
    "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
    "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
    "transporting", "unloading", "unpacking", "void_shipping",
];
#[rustfmt::skip]
pub(super) const DISPOSITIONS: &[&str] = &[
    "active", "available", "completeness_verified", "completeness_inferred", "conformant",
    "container_closed", "container_open", "damaged", "destroyed", "dispensed", "disposed",
    "encoded", "expired", "in_progress", "in_transit", "inactive", "mismatch_instance",
    "mismatch_class", "mismatch_quantity", "needs_replacement", "no_pedigree_match",
    "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
    "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
    "unavailable", "unknown",
];
#[rustfmt::skip]
pub(super) const BIZ_TRANSACTION_TYPES: &[&str] = &[
    "bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
    "testprd", "testres", "upevt",
];
pub(super) const SOURCE_DESTINATION_TYPES: &[&str] =
    &["owning_party", "possessing_party", "location"];
pub(super) const ERROR_REASONS: &[&str] = &["did_not_occur", "incorrect_data"];
#[rustfmt::skip]
pub(super) const COMPONENTS: &[&str] = &[
    "x", "y", "z", "axial_distance", "azimuth", "height", "spherical_radius", "polar_angle",
    "elevation_angle", "easting", "northing", "latitude", "longitude", "altitude",
];
#[rustfmt::skip]
pub(super) const MEASUREMENT_TYPES: &[&str] = &[
    "AbsoluteHumidity", "AbsorbedDose", "AbsorbedDoseRate", "Acceleration", "Radioactivity",
    "Altitude", "AmountOfSubstance", "AmountOfSubstancePerUnitVolume", "Angle",
    "AngularAcceleration", "AngularMomentum", "AngularVelocity", "Area", "Capacitance",
    "Conductance", "Conductivity", "Count", "Density", "Dimensionless", "DoseEquivalent",
    "DoseEquivalentRate", "DynamicViscosity", "ElectricCharge", "ElectricCurrent",
    "ElectricCurrentDensity", "ElectricFieldStrength", "Energy", "Exposure", "Force", "Frequency",
    "Illuminance", "Inductance", "Irradiance", "KinematicViscosity", "Length", "LinearMomentum",
    "Luminance", "LuminousFlux", "LuminousIntensity", "MagneticFlux", "MagneticFluxDensity",
    "MagneticVectorPotential", "Mass", "MassConcentration", "MassFlowRate", "MassPerAreaTime",
    "MemoryCapacity", "MolalityOfSolute", "MolarEnergy", "MolarMass", "MolarVolume", "Power",
    "Pressure", "RadiantFlux", "RadiantIntensity", "RelativeHumidity", "Resistance", "Resistivity",
    "SolidAngle", "SpecificVolume", "Speed", "SurfaceDensity", "SurfaceTension", "Temperature",
    "Time", "Torque", "Voltage", "Volume", "VolumeFlowRate", "VolumeFraction", "VolumetricFlux",
    "Wavenumber",
];
pub(super) const SENSOR_EXCEPTIONS: &[&str] = &["ALARM_CONDITION", "ERROR_CONDITION"];

/// How JSON-LD expansion treats a value, by the position of its key.
#[derive(Debug, Clone, Copy)]
pub(super) enum Position {
    /// A plain literal: kept as written.
    Literal,
    /// An IRI (`@type: @id`): CURIEs expanded.
    Id,
    /// A vocabulary IRI (`@type: @vocab`): terms, then CURIEs expanded.
    Vocab(&'static [&'static str], &'static str),
}

/// The scoped contexts of the EPCIS context that change what `type` and a few keys mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Plain,
    BizTransactions,
    SourcesDestinations,
    PersistentDisposition,
    Sensor,
    SensorReport,
    ErrorDeclaration,
}

#[rustfmt::skip]
pub(super) const ID_KEYS: &[&str] = &[
    "id", "eventID", "epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID",
    "epcClass", "readPoint", "bizLocation", "transformationID", "certificationInfo",
    "bizTransaction", "source", "destination", "deviceID", "deviceMetadata", "rawData",
    "dataProcessingMethod", "bizRules", "coordinateReferenceSystem", "microorganism",
    "chemicalSubstance", "uriValue", "correctiveEventIDs", "children", "member",
];

pub(super) const CBV: &str = "https://ref.gs1.org/cbv/";
pub(super) const GS1_VOC: &str = "https://gs1.org/voc/";

pub(super) fn classify(scope: Scope, key: &str) -> (Scope, Position) {
    use Position::{Id, Literal, Vocab};
    match (scope, key) {
        (Scope::BizTransactions, "type") => (scope, Vocab(BIZ_TRANSACTION_TYPES, "BTT-")),
        (Scope::SourcesDestinations, "type") => (scope, Vocab(SOURCE_DESTINATION_TYPES, "SDT-")),
        (Scope::SensorReport, "type") => (scope, Vocab(MEASUREMENT_TYPES, "")),
        (Scope::SensorReport, "exception") => (scope, Vocab(SENSOR_EXCEPTIONS, "")),
        (Scope::SensorReport, "component") => (scope, Vocab(COMPONENTS, "Comp-")),
        (Scope::PersistentDisposition, "set" | "unset") => (scope, Vocab(DISPOSITIONS, "Disp-")),
        (Scope::ErrorDeclaration, "reason") => (scope, Vocab(ERROR_REASONS, "ER-")),
        // `type` elsewhere is @type: a vocabulary-relative IRI without CBV terms.
        (_, "type") => (scope, Vocab(&[], "")),
        (_, "bizStep") => (scope, Vocab(BIZ_STEPS, "BizStep-")),
        (_, "disposition") => (scope, Vocab(DISPOSITIONS, "Disp-")),
        (_, "persistentDisposition") => (Scope::PersistentDisposition, Literal),
        (_, "bizTransactionList") => (Scope::BizTransactions, Literal),
        (_, "sourceList" | "destinationList") => (Scope::SourcesDestinations, Literal),
        (_, "sensorElementList") => (Scope::Sensor, Literal),
        (Scope::Sensor | Scope::SensorReport, "sensorReport") => (Scope::SensorReport, Literal),
        (_, "errorDeclaration") => (Scope::ErrorDeclaration, Literal),
        (_, key) if ID_KEYS.contains(&key) => (scope, Id),
        _ => (scope, Literal),
    }
}

/// What JSON-LD expansion makes of `value` at `position`.
pub(super) fn expand(
    value: &str,
    position: Position,
    prefixes: &BTreeMap<String, String>,
) -> String {
    if let Position::Vocab(terms, infix) = position
        && terms.contains(&value)
    {
        let base = if infix.is_empty() { GS1_VOC } else { CBV };
        return format!("{base}{infix}{value}");
    }
    if let Position::Id | Position::Vocab(..) = position
        && let Some((prefix, local)) = value.split_once(':')
        && !local.starts_with("//")
        && let Some(uri) = prefixes.get(prefix)
    {
        return format!("{uri}{local}");
    }
    value.to_owned()
}

/// The CBV and GS1 vocabulary URIs that JSON-LD expansion finds among the values of
/// `document`, the candidates of bare-word expansion.
pub(super) fn vocabulary_of(
    document: &Value,
    prefixes: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    fn walk(
        value: &Value,
        scope: Scope,
        position: Position,
        prefixes: &BTreeMap<String, String>,
        out: &mut BTreeSet<String>,
    ) {
        match value {
            Value::String(text) => {
                let expanded = expand(text, position, prefixes);
                if expanded.starts_with("https://ref.gs1.org/cbv")
                    || expanded.starts_with("https://gs1.org/voc")
                    || expanded.starts_with("https://ref.gs1.org/voc")
                {
                    out.insert(expanded);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, scope, position, prefixes, out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    if key == "@context" {
                        continue;
                    }
                    let (scope, position) = classify(scope, key);
                    walk(item, scope, position, prefixes, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(
        document,
        Scope::Plain,
        Position::Literal,
        prefixes,
        &mut out,
    );
    out
}

/// Replaces every string that is the last segment of exactly one vocabulary URI by that URI.
pub(super) fn expand_bare_words(value: &Value, vocabulary: &BTreeSet<String>) -> Value {
    match value {
        Value::String(text) => {
            // URIs that end in `-text` or `/text`.
            let mut matches = vocabulary.iter().filter(|uri| {
                uri.strip_suffix(text.as_str())
                    .is_some_and(|head| head.ends_with(['-', '/']))
            });
            match (matches.next(), matches.next()) {
                (Some(uri), None) => Value::String(uri.clone()),
                _ => value.clone(),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| expand_bare_words(v, vocabulary))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), expand_bare_words(v, vocabulary)))
                .collect(),
        ),
        other => other.clone(),
    }
}
