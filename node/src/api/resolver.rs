//! The consumer's page: GS1 Digital Link resolution. A QR code on a product carries a Digital
//! Link URI (`https://<node>/01/{gtin}/21/{serial}`, `/01/{gtin}/10/{lot}`, `/00/{sscc}`, and
//! the other GS1 primary keys); scanning it opens `GET /{ai}/{value}/…` on the node, which
//! answers a verified provenance page.
//!
//! The path is validated as the Digital Link standard defines it (check digits, the order of
//! key qualifiers, the AIs' formats: the SDK's strict parser, tested against GS1's vectors). An
//! invalid URI is `400`, a product no entry names `404`, each as a friendly page, or as
//! problem+json when the client asks for JSON (`Accept: application/json`), which also gets
//! the page's content as JSON.
//!
//! The page is server-rendered HTML, mobile-first, readable without JavaScript, and loads
//! nothing from outside the node (its style is inline). It shows the product and its timeline
//! — ordered, made, inspected, shipped, received, delivered — each line with the organisation
//! that signed it and whether checkpoints of a quorum of members witness it. It shows no
//! personal data: private fields never appear, and the public event is reduced to what a
//! consumer needs (no locations, no identifiers of other products but the inputs'). It needs
//! no token: it is what a product's label points to.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use tally_sdk::event::EventKind;
use tally_sdk::gs1::ProductId;
use tally_sdk::gs1::digital_link::{CANONICAL_STEM, DigitalLink, ParseOptions};
use tally_sdk::reports::provenance::{Provenance, Step};
use tally_sdk::time::Timestamp;

use super::ApiState;
use super::problem::ApiError;
use crate::products;

/// One line of the timeline, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineLine {
    /// When (UTC).
    pub at: Timestamp,
    /// What happened, in words (`Made: assembling`, `Inspected: passed`, …).
    pub what: String,
    /// The C2M kind.
    pub kind: String,
    /// The member that signed it.
    pub signer: String,
    /// Its organisation's name (from the genesis).
    pub signer_name: String,
    /// Whether checkpoints of a quorum of members witness it.
    pub witnessed: bool,
    /// Whether its signer's chain forked at or before it: the signer signed two histories,
    /// so this record may not be the one it stands by.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forked: bool,
    /// The entry (for anyone who wants to check it: `GET /v1/entries/{hash}`).
    pub entry: String,
}

/// A name the product was given, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NameLine {
    /// The name (CBV `descriptionShort` in the ILMD of a production step that made it).
    pub name: String,
    /// The organisation that signed it.
    pub by: String,
}

/// One input of the product, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct InputLine {
    /// Its Digital Link path on this node (its own page).
    pub path: String,
    /// What it is: "Linen lot LINEN-2026-07" when its maker named it, else "Lot LINEN-2026-07
    /// of GTIN 09506000134369".
    pub what: String,
    /// The organisation that made it (signed its first record), if the node holds one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// The page's content.
#[derive(Debug, Clone, Serialize)]
pub struct ProductPage {
    /// The product's canonical Digital Link.
    pub product: String,
    /// Its name, as the production step that made it gives it, if one did (the first, in
    /// event-time order, of a step whose signer's chain did not fork).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<NameLine>,
    /// Other names production steps gave it, each with who signed it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_names: Vec<NameLine>,
    /// What kind of identifier it is.
    pub identifier: String,
    /// The consortium (network id).
    pub network: String,
    /// The organisation whose node answers.
    pub answered_by: String,
    /// The timeline, in event-time order.
    pub timeline: Vec<TimelineLine>,
    /// What it was made from: each input's Digital Link path on this node.
    pub made_from: Vec<String>,
    /// The same inputs, described for people.
    pub inputs: Vec<InputLine>,
    /// How many of the timeline's entries a quorum witnesses.
    pub witnessed: usize,
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            let accept = accept.to_ascii_lowercase();
            (accept.contains("application/json") || accept.contains("+json"))
                && !accept.contains("text/html")
        })
}

/// `GET /{ai}/{*rest}`: a Digital Link path.
pub async fn resolve(
    State(state): State<ApiState>,
    Path((ai, _rest)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    if ai == "epcis" {
        // An EPCIS path the binding's router does not know reaches this route too.
        return super::epcis::no_such_resource().await.into_response();
    }
    if ai.is_empty() || !ai.bytes().all(|b| b.is_ascii_digit()) {
        return ApiError::not_found("there is no such resource; /openapi.json lists the API")
            .into_response();
    }
    let text = match uri.query() {
        Some(query) => format!("{CANONICAL_STEM}{}?{query}", uri.path()),
        None => format!("{CANONICAL_STEM}{}", uri.path()),
    };
    let product = match DigitalLink::parse_with(&text, &ParseOptions::STRICT)
        .map_err(|e| e.to_string())
        .and_then(|link| ProductId::parse(&link.canonical()).map_err(|e| e.to_string()))
    {
        Ok(product) => product,
        Err(reason) => {
            let detail = format!("{} is not a valid GS1 Digital Link: {reason}", uri.path());
            return if json {
                ApiError::bad_request(detail).into_response()
            } else {
                page_response(
                    StatusCode::BAD_REQUEST,
                    &message_page(
                        "This code is not a valid product link",
                        "The link on this label does not follow the GS1 Digital Link standard, so it names no product.",
                        &detail,
                    ),
                )
            };
        }
    };
    let store = state.store().clone();
    let book = state.book().clone();
    let genesis = state.genesis().clone();
    let key = product.clone();
    let found = match state
        .blocking(move || products::provenance(store.as_ref(), &book, &genesis, &key))
        .await
    {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return ApiError::from(error).into_response(),
        Err(error) => return error.into_response(),
    };
    let Some(provenance) = found else {
        let detail = format!("no entry this node holds names {}", product.as_str());
        return if json {
            ApiError::not_found(detail).into_response()
        } else {
            page_response(
                StatusCode::NOT_FOUND,
                &message_page(
                    "No record of this product",
                    "The members of this supply chain have recorded nothing about this product. If you bought it, ask the seller.",
                    &detail,
                ),
            )
        };
    };
    let content = content(&state, &product, &provenance);
    if json {
        let mut response = axum::Json(content).into_response();
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept"));
        response
    } else {
        page_response(StatusCode::OK, &product_page(&content))
    }
}

fn content(state: &ApiState, product: &ProductId, provenance: &Provenance) -> ProductPage {
    let genesis = state.genesis();
    let name_of = |member: &tally_sdk::ids::MemberId| {
        genesis
            .all_members()
            .iter()
            .find(|m| &m.id == member)
            .map_or_else(|| member.to_string(), |m| m.name.clone())
    };
    let timeline: Vec<TimelineLine> = provenance
        .timeline
        .iter()
        .map(|step| TimelineLine {
            at: step.event_time,
            what: describe(step, provenance),
            kind: step.kind.name().as_str().to_owned(),
            signer: step.signer.to_string(),
            signer_name: name_of(&step.signer),
            witnessed: step.witnessed,
            forked: step.forked,
            entry: step.entry.to_hex(),
        })
        .collect();
    let mut names = names_given(provenance).map(|(name, by)| NameLine {
        name: name.to_owned(),
        by: name_of(by),
    });
    let name = names.next();
    let other_names = names
        .filter(|other| name.as_ref().is_none_or(|first| first.name != other.name))
        .collect();
    ProductPage {
        product: product.as_str().to_owned(),
        name,
        other_names,
        identifier: identifier(product),
        network: genesis.network_id().to_hex(),
        answered_by: name_of(state.member()),
        witnessed: timeline.iter().filter(|l| l.witnessed).count(),
        timeline,
        made_from: provenance
            .inputs
            .iter()
            .filter_map(|input| ProductId::parse(&input.product).ok())
            .map(|p| p.digital_link_path().to_owned())
            .collect(),
        inputs: provenance
            .inputs
            .iter()
            .filter_map(|input| {
                let product = ProductId::parse(&input.product).ok()?;
                let maker = input
                    .provenance
                    .as_ref()
                    .and_then(|p| p.timeline.first())
                    .map(|step| name_of(&step.signer));
                let name = input
                    .provenance
                    .as_deref()
                    .and_then(|p| names_given(p).next())
                    .map(|(name, _)| name);
                Some(InputLine {
                    path: product.digital_link_path().to_owned(),
                    what: described(&product, name),
                    from: maker,
                })
            })
            .collect(),
    }
}

/// The names the steps that made a product gave it, with their signers, in event-time order,
/// leaving out those of steps whose signer's chain forked.
fn names_given(provenance: &Provenance) -> impl Iterator<Item = (&str, &tally_sdk::ids::MemberId)> {
    provenance
        .names
        .iter()
        .filter(|name| {
            !provenance
                .timeline
                .iter()
                .any(|step| step.entry == name.entry && step.forked)
        })
        .map(|name| (name.name.as_str(), &name.by))
}

/// An input as a sentence starts: "Linen lot LINEN-2026-07" when its maker named it, else
/// "Lot LINEN-2026-07 of GTIN 09506000134369".
fn described(product: &ProductId, name: Option<&str>) -> String {
    use tally_sdk::gs1::ProductKind;
    let key = product.key();
    let qualifier = key.qualifiers.first().map(|q| q.value.clone());
    match (product.kind(), qualifier, name) {
        (ProductKind::Item, Some(serial), Some(name)) => format!("{name}, item {serial}"),
        (ProductKind::Lot, Some(lot), Some(name)) => format!("{name} lot {lot}"),
        (_, _, Some(name)) => format!("{name} ({})", identifier(product)),
        (ProductKind::Item, Some(serial), None) => {
            format!("Item {serial} of GTIN {}", key.primary.value)
        }
        (ProductKind::Lot, Some(lot), None) => {
            format!("Lot {lot} of GTIN {}", key.primary.value)
        }
        _ => identifier(product),
    }
}

fn identifier(product: &ProductId) -> String {
    use tally_sdk::gs1::ProductKind;
    let key = product.key();
    let qualifier = key.qualifiers.first().map(|q| q.value.clone());
    match (product.kind(), qualifier) {
        (ProductKind::Item, Some(serial)) => {
            format!("GTIN {} · serial {serial}", key.primary.value)
        }
        (ProductKind::Lot, Some(lot)) => format!("GTIN {} · lot {lot}", key.primary.value),
        (ProductKind::Class, _) => format!("GTIN {}", key.primary.value),
        (ProductKind::Shipment, _) => format!("SSCC {}", key.primary.value),
        _ => format!("GS1 key ({}) {}", key.primary.ai, key.primary.value),
    }
}

/// A CBV word, readable: `in_transit` → `in transit`; a URI stays as it is.
fn word(value: &str) -> String {
    if value.contains(':') {
        value.to_owned()
    } else {
        value.replace('_', " ")
    }
}

fn describe(step: &Step, provenance: &Provenance) -> String {
    let step_word = step.biz_step.as_deref().map(word);
    match &step.kind {
        EventKind::Order => "Ordered".to_owned(),
        EventKind::ProductionStep => match step_word {
            Some(what) => format!("Made: {what}"),
            None => "Made".to_owned(),
        },
        EventKind::QualityInspection { passed: true } => "Inspected: passed".to_owned(),
        EventKind::QualityInspection { passed: false } => "Inspected: failed".to_owned(),
        EventKind::HandOver { .. } => "Shipped (handed over)".to_owned(),
        EventKind::Receipt { .. } => "Received".to_owned(),
        // Judged against the binding promise only: a date the deliverer wrote on its own
        // delivery binds no one, so it cannot make a delivery "on time".
        EventKind::Delivery { .. } => match provenance
            .deliveries
            .iter()
            .find(|d| d.entry == step.entry)
            .filter(|d| d.promise.is_some())
        {
            Some(delivery) if delivery.late_by_ms.is_some() => "Delivered (late)".to_owned(),
            Some(_) => "Delivered (on time)".to_owned(),
            None => "Delivered".to_owned(),
        },
        EventKind::Observation => match step_word {
            Some(what) => format!("Observed: {what}"),
            None => "Observed".to_owned(),
        },
    }
}

fn page_response(status: StatusCode, html: &str) -> Response {
    let mut response = (status, Html(html.to_owned())).into_response();
    let headers = response.headers_mut();
    // Nothing from elsewhere: no scripts, styles only inline, images none.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
        ),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// HTML-escapes text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f23;background:#f6f7f9}\
main{max-width:40rem;margin:0 auto;padding:1rem}\
h1{font-size:1.4rem;margin:.5rem 0}\
.id{color:#555;font-size:.95rem;word-break:break-all}\
code{word-break:break-all}\
.badge{display:inline-block;padding:.15rem .5rem;border-radius:1rem;font-size:.8rem;background:#e6f4ea;color:#1e6b34}\
.pending{background:#fff4e5;color:#8a5300}\
.forked{background:#fde8e8;color:#9b1c1c}\
ol{list-style:none;padding:0;margin:1rem 0}\
li{background:#fff;border-radius:.6rem;padding:.75rem 1rem;margin:.5rem 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}\
.what{font-weight:600}\
.meta{color:#555;font-size:.85rem}\
footer{color:#666;font-size:.8rem;margin:2rem 0 1rem}\
a{color:#0b5cad}";

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

fn message_page(title: &str, text: &str, detail: &str) -> String {
    shell(
        title,
        &format!(
            "<h1>{}</h1><p>{}</p><p class=\"meta\">{}</p>",
            escape(title),
            escape(text),
            escape(detail)
        ),
    )
}

fn product_page(page: &ProductPage) -> String {
    let mut lines = String::new();
    for line in &page.timeline {
        let badge = if line.forked {
            "<span class=\"badge forked\">disputed: its signer signed two histories</span>"
        } else if line.witnessed {
            "<span class=\"badge\">witnessed</span>"
        } else {
            "<span class=\"badge pending\">not yet witnessed</span>"
        };
        lines.push_str(&format!(
            "<li data-kind=\"{}\"><div class=\"what\">{}</div>\
<div class=\"meta\"><time datetime=\"{}\">{}</time> · signed by {} {badge}</div></li>",
            escape(&line.kind),
            escape(&line.what),
            escape(&line.at.to_rfc3339()),
            escape(&human_time(line.at)),
            escape(&line.signer_name),
        ));
    }
    let mut made_from = String::new();
    if !page.inputs.is_empty() {
        made_from.push_str("<h2>Made from</h2><ul>");
        for input in &page.inputs {
            let from = input
                .from
                .as_ref()
                .map(|maker| format!(", from {}", escape(maker)))
                .unwrap_or_default();
            made_from.push_str(&format!(
                "<li><a href=\"{}\">{}</a>{from}</li>",
                escape(&input.path),
                escape(&input.what)
            ));
        }
        made_from.push_str("</ul>");
    }
    let total = page.timeline.len();
    let (title, named) = match &page.name {
        Some(name) => (
            name.name.as_str(),
            format!(
                "<p class=\"meta\" id=\"named\">Named by {}, who made it.</p>",
                escape(&name.by)
            ),
        ),
        None => ("Product provenance", String::new()),
    };
    let mut also = String::new();
    for other in &page.other_names {
        also.push_str(&format!(
            "<p class=\"meta also\">Also named “{}” by {}.</p>",
            escape(&other.name),
            escape(&other.by)
        ));
    }
    shell(
        title,
        &format!(
            "<h1>{}</h1><p class=\"id\">{}</p>{named}{also}\
<p>{total} signed records, {} witnessed by the consortium.</p>\
<ol id=\"timeline\">{lines}</ol>{made_from}\
<footer>Every record is signed by the organisation named and checked by the node of {} \
(network {}). Anyone can verify them with the consortium's genesis. Auditors and regulators \
download this product's evidence bundle from <code>/v1/products/{}/evidence</code> with a \
read token, and check it offline with <code>tally verify</code>.</footer>",
            escape(title),
            escape(&page.identifier),
            page.witnessed,
            escape(&page.answered_by),
            escape(&page.network[..16.min(page.network.len())]),
            escape(&tally_sdk::gs1::digital_link::percent_encode(&page.product)),
        ),
    )
}

fn human_time(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    // `2026-03-04T06:00:00.000Z` → `2026-03-04 06:00 UTC`
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn json_is_what_json_clients_ask_for() {
        let mut headers = HeaderMap::new();
        assert!(!wants_json(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(wants_json(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,application/json;q=0.9"),
        );
        assert!(!wants_json(&headers));
    }

    #[test]
    fn times_read_as_people_read_them() {
        assert_eq!(
            human_time(Timestamp(1_772_589_600_000)),
            "2026-03-04 02:00 UTC"
        );
    }
}
