//! The notice as JSON-LD, in terms of the W3C Data Privacy Vocabulary (DPV 2): the notice
//! is a `dpv:PrivacyNotice`; each purpose is a `dpv:PersonalDataHandling` with its purpose,
//! personal data (`pd:` terms), legal bases (`eu-gdpr:` articles), data subjects, sources,
//! recipients, storage duration and transfers; rights and measures hang off the notice.
//! Only terms that exist in DPV are used (the tests check them against the DPV term lists);
//! what DPV has no term for is said with Dublin Core (`dct:`) titles and descriptions.

use super::view::*;
use serde_json::{Map, Value, json};

const CONTEXT: &[(&str, &str)] = &[
    ("dpv", "https://w3id.org/dpv#"),
    ("pd", "https://w3id.org/dpv/pd#"),
    ("eu-gdpr", "https://w3id.org/dpv/legal/eu/gdpr#"),
    ("dct", "http://purl.org/dc/terms/"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
];

fn id(term: &str) -> Value {
    json!({ "@id": term })
}

/// A JSON object builder that leaves out empty values, so that absent items stay absent.
#[derive(Default)]
struct Node(Map<String, Value>);

impl Node {
    fn typed(types: &[&str]) -> Node {
        let mut n = Node::default();
        n.0.insert(
            "@type".into(),
            match types {
                [one] => Value::from(*one),
                many => Value::from(many.to_vec()),
            },
        );
        n
    }

    fn set(mut self, key: &str, value: impl Into<Value>) -> Node {
        let value = value.into();
        let empty = match &value {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::String(s) => s.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            self.0.insert(key.to_string(), value);
        }
        self
    }

    fn opt<T: Into<Value>>(self, key: &str, value: Option<T>) -> Node {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    fn build(self) -> Value {
        Value::Object(self.0)
    }
}

fn contact(c: &Option<Contact>) -> Option<String> {
    c.as_ref().map(|c| c.text.clone())
}

fn party(types: &[&str], p: &PartyView) -> Value {
    Node::typed(types)
        .opt("dpv:hasName", p.name.clone())
        .opt("dpv:hasAddress", p.address.clone())
        .opt("dpv:hasCountry", p.country.clone())
        .set(
            "dpv:hasContact",
            [contact(&p.email), p.phone.clone(), contact(&p.website)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        )
        .build()
}

fn personal_data(categories: &[CategoryRef]) -> Vec<Value> {
    let mut terms: Vec<&str> = Vec::new();
    for c in categories {
        if !terms.contains(&c.dpv.as_str()) {
            terms.push(&c.dpv);
        }
    }
    let mut out: Vec<Value> = terms.into_iter().map(id).collect();
    if categories.iter().any(|c| c.special) {
        out.push(id("dpv:SpecialCategoryPersonalData"));
    }
    out
}

fn storage(r: &RetentionView) -> Value {
    let duration = match (&r.period, &r.after) {
        (Some(period), _) => Node::typed(&["dpv:TemporalDuration"])
            .set("dct:description", r.text.clone().unwrap_or_default())
            .set(
                "rdf:value",
                json!({ "@value": period, "@type": "xsd:duration" }),
            )
            .build(),
        (None, Some(_)) => Node::typed(&["dpv:UntilEventDuration"])
            .opt("dct:description", r.text.clone())
            .build(),
        (None, None) => Node::typed(&["dpv:Duration"])
            .opt("dct:description", r.criteria.clone())
            .build(),
    };
    Node::typed(&["dpv:StorageDuration"])
        .set("dpv:hasDuration", duration)
        .opt("dct:description", r.criteria.clone())
        .build()
}

fn transfer(base: &str, t: &TransferView) -> Value {
    let mut bases: Vec<Value> = t.mechanism_dpv.map(id).into_iter().collect();
    if let Some(d) = &t.derogation {
        bases.push(id(d.dpv));
    }
    Node::typed(&["dpv:PersonalDataHandling"])
        .set("@id", format!("{base}#transfer-{}", t.id))
        .set("dpv:hasProcessing", id("dpv:CrossBorderTransfer"))
        .set(
            "dpv:hasThirdCountry",
            Node::typed(&["dpv:ThirdCountry"])
                .set("dct:identifier", t.country_code.clone())
                .set("dct:title", t.country.clone())
                .build(),
        )
        .opt(
            "dpv:hasRecipient",
            t.recipient.as_ref().map(|r| json!({ "dpv:hasName": r })),
        )
        .set("dpv:hasLegalBasis", bases)
        .set("dct:description", t.mechanism_label)
        .opt("dct:accessRights", contact(&t.copy))
        .opt(
            "dpv:hasTechnicalOrganisationalMeasure",
            t.supplementary_measures.as_ref().map(|m| {
                Node::typed(&["dpv:TechnicalOrganisationalMeasure"])
                    .set("dct:description", m.clone())
                    .build()
            }),
        )
        .build()
}

fn purpose(base: &str, p: &PurposeView, transfers: &[TransferView]) -> Value {
    let mut purpose_types = vec!["dpv:Purpose"];
    if p.direct_marketing {
        purpose_types.push("dpv:DirectMarketing");
    }
    let mut bases: Vec<Value> = Vec::new();
    for b in &p.bases {
        bases.push(id(b.dpv));
        if let Some(interest) = &b.interest {
            bases.push(
                Node::typed(&["dpv:LegitimateInterestOfController"])
                    .set("dct:description", interest.clone())
                    .build(),
            );
        }
        if let Some(law) = &b.law {
            bases.push(
                Node::typed(&["dpv:LegalObligation"])
                    .set("dct:source", law.clone())
                    .build(),
            );
        }
    }
    if let Some(c) = &p.special_condition {
        bases.push(id(c.dpv));
    }
    let mut processing: Vec<Value> = Vec::new();
    if p.profiling {
        processing.push(id("dpv:Profiling"));
    }
    if p.automated.is_some() {
        processing.push(id("dpv:AutomatedDecisionMaking"));
    }
    let sources: Vec<Value> = p
        .sources
        .iter()
        .map(|s| {
            Node::typed(&[s.dpv])
                .opt("dct:title", s.name.clone())
                .set("dpv:hasPersonalData", personal_data(&s.categories))
                .build()
        })
        .collect();
    let entity_key = if p.role == "processor" {
        "dpv:hasDataProcessor"
    } else {
        "dpv:hasDataController"
    };
    Node::typed(&["dpv:PersonalDataHandling"])
        .set("@id", format!("{base}#{}", p.anchor))
        .set("dct:title", p.name.clone())
        .set(
            "dpv:hasPurpose",
            Node::typed(&purpose_types)
                .set("dct:title", p.name.clone())
                .opt("dct:description", p.description.clone())
                .build(),
        )
        .set(entity_key, id(&format!("{base}#controller")))
        .set(
            "dpv:hasDataSubject",
            p.subjects
                .iter()
                .map(|s| {
                    Node::typed(&["dpv:DataSubject"])
                        .set("dct:title", s.clone())
                        .build()
                })
                .collect::<Vec<_>>(),
        )
        .set("dpv:hasPersonalData", personal_data(&p.categories))
        .set("dpv:hasLegalBasis", bases)
        .set("dpv:hasDataSource", sources)
        .set(
            "dpv:hasRecipient",
            p.recipients
                .iter()
                .map(|r| id(&format!("{base}#recipient-{}", r.id)))
                .collect::<Vec<_>>(),
        )
        .opt("dpv:hasStorageCondition", p.retention.as_ref().map(storage))
        .set("dpv:hasProcessing", processing)
        .opt(
            "dpv:hasConsequence",
            p.automated.as_ref().and_then(|a| a.consequences.clone()),
        )
        .opt(
            "dpv:hasAlgorithmicLogic",
            p.automated.as_ref().map(|a| a.logic.clone()),
        )
        .set(
            "dpv:hasPersonalDataHandling",
            p.transfers
                .iter()
                .filter_map(|t| transfers.iter().find(|x| x.id == t.id))
                .map(|t| transfer(base, t))
                .collect::<Vec<_>>(),
        )
        .build()
}

fn cookie(base: &str, category: &CookieCategoryView, c: &CookieView) -> Value {
    let tracking = if c.first_party {
        "dpv:TrackingByFirstParty"
    } else {
        "dpv:TrackingByThirdParty"
    };
    Node::typed(&["dpv:PersonalDataHandling"])
        .set("dct:title", c.name.clone())
        .set(
            "dct:type",
            format!("{}, {}", c.kind, category.label.to_lowercase()),
        )
        .set("dpv:hasProcessing", id(tracking))
        .set("dpv:hasPersonalData", id("pd:Tracking"))
        .set(
            "dpv:hasDataController",
            json!({ "dpv:hasName": c.provider }),
        )
        .opt(
            "dpv:hasDuration",
            c.duration.as_ref().map(|d| {
                Node::typed(&["dpv:TemporalDuration"])
                    .set("dct:description", d.clone())
                    .build()
            }),
        )
        .opt("dct:description", c.description.clone())
        .opt(
            "dpv:hasPurpose",
            c.purpose_anchor
                .as_ref()
                .map(|a| id(&format!("{base}#{a}"))),
        )
        .build()
}

/// The JSON-LD document of a notice.
pub fn notice(v: &NoticeView) -> Value {
    let c = &v.content;
    // The notice's own address, from which the ids of its parts (`...#purpose-billing`) are
    // made; a URN of the version when the notice has no published address.
    let base = c
        .url
        .clone()
        .unwrap_or_else(|| format!("urn:pledge:notice:{}", v.version));
    let context: Map<String, Value> = CONTEXT
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let controller = c.controller.as_ref().map(|ctl| {
        Node::typed(&["dpv:DataController"])
            .set("@id", format!("{base}#controller"))
            .set("dpv:hasName", ctl.full_name.clone())
            .opt("dct:identifier", ctl.registration.clone())
            .opt("dpv:hasAddress", ctl.address.clone())
            .opt("dpv:hasCountry", ctl.country.clone())
            .set(
                "dpv:hasContact",
                [
                    contact(&ctl.email),
                    ctl.phone.clone(),
                    contact(&ctl.contact_form),
                    contact(&ctl.website),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
            )
            .opt(
                "dpv:hasRepresentative",
                c.representative
                    .as_ref()
                    .map(|r| party(&["dpv:Representative"], r)),
            )
            .opt(
                "dpv:hasDataProtectionOfficer",
                c.dpo
                    .as_ref()
                    .map(|d| party(&["dpv:DataProtectionOfficer"], d)),
            )
            .build()
    });
    let mut rights: Vec<Value> = Vec::new();
    if let Some(r) = &c.rights {
        for right in &r.items {
            match right.dpv {
                Some(term) => rights.push(id(term)),
                None => rights.push(
                    Node::typed(&["dpv:DataSubjectRight"])
                        .set("dct:title", right.label)
                        .build(),
                ),
            }
        }
    }
    if let Some(ccpa) = &c.ccpa {
        for right in ccpa.rights.iter().filter(|r| {
            matches!(
                r.code.as_str(),
                "opt_out_of_sale" | "limit_sensitive" | "non_discrimination"
            )
        }) {
            rights.push(
                Node::typed(&["dpv:DataSubjectRight"])
                    .set("dct:title", right.label)
                    .build(),
            );
        }
    }
    let mut handlings: Vec<Value> = c
        .purposes
        .iter()
        .chain(&c.processor_purposes)
        .map(|p| purpose(&base, p, &c.transfers))
        .collect();
    if let Some(cookies) = &c.cookies {
        for category in &cookies.categories {
            for ck in &category.cookies {
                handlings.push(cookie(&base, category, ck));
            }
        }
    }
    let mut types = vec!["dpv:PrivacyNotice"];
    if !c.indirect_sources.is_empty() {
        types.push("eu-gdpr:IndirectDataCollectionNotice");
    }
    if c.purposes.iter().any(|p| p.from_subject) {
        types.push("eu-gdpr:DirectDataCollectionNotice");
    }
    Node::default()
        .set("@context", Value::Object(context))
        .set("@id", base.clone())
        .set("@type", types)
        .set("dct:title", c.title.clone())
        .set("dct:language", v.lang.clone())
        .set("dct:hasVersion", v.version.clone())
        .set("dct:identifier", v.digest.clone())
        .opt(
            "dct:valid",
            v.effective_date
                .as_ref()
                .map(|d| json!({ "@value": d, "@type": "xsd:date" })),
        )
        .set("dct:conformsTo", c.regimes.names.clone())
        .opt("dpv:hasDataController", controller)
        .opt(
            "dpv:hasAuthority",
            c.authority.as_ref().map(|a| {
                Node::typed(&["dpv:DataProtectionAuthority"])
                    .set("dpv:hasName", a.name.clone())
                    .opt("dpv:hasAddress", a.address.clone())
                    .opt("dpv:hasCountry", a.country.clone())
                    .set(
                        "dpv:hasContact",
                        [contact(&a.email), a.phone.clone(), contact(&a.website)]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>(),
                    )
                    .build()
            }),
        )
        .set(
            "dpv:hasRecipient",
            c.recipients
                .iter()
                .map(|r| {
                    Node::typed(&[r.dpv])
                        .set("@id", format!("{base}#{}", r.anchor))
                        .set("dpv:hasName", r.name.clone())
                        .opt("dct:description", r.service.clone())
                        .opt("dpv:hasCountry", r.country.clone())
                        .build()
                })
                .collect::<Vec<_>>(),
        )
        .set("dpv:hasPersonalDataHandling", handlings)
        .set("dpv:hasRight", rights)
        .set(
            "dpv:hasTechnicalOrganisationalMeasure",
            c.security
                .iter()
                .map(|m| {
                    Node::typed(&[m.dpv])
                        .set("dct:title", m.label)
                        .opt("dct:description", m.description.clone())
                        .build()
                })
                .collect::<Vec<_>>(),
        )
        .build()
}
