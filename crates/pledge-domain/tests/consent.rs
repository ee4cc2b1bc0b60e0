//! Consent decisions as data: a declaration, a ledger of events and a question in, a
//! decision out. The table names each case; the snapshot keeps every reason as the API
//! shows it.

use pledge_domain::consent::*;
use pledge_lang::model::CookieCategory;
use pledge_lang::types::SubjectRef;
use pledge_lang::{Declaration, SourceMap, load};
use proptest::prelude::*;

const DECLARATION: &str = r#"
[policy]
effective_date = "2026-01-01"

[controller]
name = "Larkspur Shop"
email = "privacy@larkspur.example"

[ccpa]
shared = ["online.cookie_id"]
honours_gpc = true

[cookie_consent]
mechanism = "opt_in"
reject_all = true
reask_after = "P13M"

[[purposes]]
id = "orders"
name = "Delivering orders"
categories = ["identity.name", "contact"]
legal_bases = ["contract"]

[[purposes]]
id = "bookkeeping"
name = "Bookkeeping"
categories = ["transaction.invoice"]
legal_bases = [{ basis = "legal_obligation", law = "Bookkeeping Act" }]

[[purposes]]
id = "fraud"
name = "Fraud prevention"
categories = ["online.ip_address"]
legal_bases = [{ basis = "legitimate_interests", interest = "stopping stolen cards" }]

[[purposes]]
id = "newsletter"
name = "Newsletter"
categories = ["contact.email"]
legal_bases = [{ basis = "consent", withdrawal = "the link in every issue" }]
direct_marketing = true
consent_expires_after = "P2Y"

[[purposes]]
id = "offers"
name = "Offers to customers"
categories = ["contact.email"]
legal_bases = [{ basis = "legitimate_interests", interest = "selling more" }]
direct_marketing = true

[[purposes]]
id = "ads"
name = "Targeted advertising"
categories = ["online.cookie_id"]
legal_bases = ["consent"]

[[purposes]]
id = "prize-draw"
name = "Prize draw"
categories = ["contact.email"]
legal_bases = [{ basis = "consent", mechanism = "continued_use" }]

[[purposes]]
id = "unfounded"
name = "Processing without a basis"
categories = ["contact.email"]

[[cookies]]
name = "session"
category = "strictly_necessary"

[[cookies]]
name = "_stats"
category = "analytics"

[[cookies]]
name = "_adid"
category = "advertising"
purpose = "ads"
"#;

/// 2026-01-10T12:00:00Z
const T0: i64 = 1_768_046_400;
const DAY: i64 = 86_400;

fn decl() -> Declaration {
    load(&SourceMap::single("shop.toml", DECLARATION.to_string())).expect("the declaration loads")
}

fn subject(s: &str) -> SubjectRef {
    s.parse().unwrap()
}

fn purpose(p: &str) -> Target {
    Target::Purpose(p.parse().unwrap())
}

fn consent(target: Target, state: ConsentState) -> Action {
    Action::Consent { target, state }
}

/// Events of `ana` (and of `visitor-9`, linked to her in one case), in ledger order, each a
/// day after the last.
fn index(policy: &ConsentPolicy, events: &[(&str, Action)]) -> ConsentIndex {
    let mut index = ConsentIndex::default();
    for (i, (who, action)) in events.iter().enumerate() {
        let at = T0 + i as i64 * DAY;
        let expires_at = match action {
            Action::Consent {
                target,
                state: ConsentState::Given,
            } => policy.expires_at(target, at),
            _ => None,
        };
        let e = ConsentEvent {
            subject: subject(who),
            action: action.clone(),
            at,
            expires_at,
            notice_version: Some("v1".into()),
            text_hash: None,
            method: Method::Banner,
            evidence: Evidence::default(),
            actor: "test".into(),
        };
        index.apply(i as i64 + 1, &e);
    }
    index
}

struct Case {
    name: &'static str,
    events: Vec<(&'static str, Action)>,
    target: Target,
    categories: &'static [&'static str],
    /// Days after T0 the question is asked.
    asked_after_days: i64,
    allow: bool,
}

fn cases() -> Vec<Case> {
    use ConsentState::*;
    let given = |p| ("ana", consent(purpose(p), Given));
    let cookies = |c| Target::Cookies(c);
    let case = |name, events, target, categories, allow| Case {
        name,
        events,
        target,
        categories,
        asked_after_days: 30,
        allow,
    };
    vec![
        case("undeclared purpose", vec![], purpose("resale"), &[], false),
        case(
            "contract, category under a declared parent",
            vec![],
            purpose("orders"),
            &["contact.email"],
            true,
        ),
        case(
            "contract, category not declared",
            vec![],
            purpose("orders"),
            &["financial.card"],
            false,
        ),
        case(
            "no legal basis declared",
            vec![],
            purpose("unfounded"),
            &[],
            false,
        ),
        case(
            "consent never asked",
            vec![],
            purpose("newsletter"),
            &[],
            false,
        ),
        case(
            "consent given",
            vec![given("newsletter")],
            purpose("newsletter"),
            &["contact.email"],
            true,
        ),
        case(
            "consent withdrawn",
            vec![
                given("newsletter"),
                ("ana", consent(purpose("newsletter"), Withdrawn)),
            ],
            purpose("newsletter"),
            &[],
            false,
        ),
        case(
            "consent refused",
            vec![("ana", consent(purpose("newsletter"), Refused))],
            purpose("newsletter"),
            &[],
            false,
        ),
        case(
            "consent given again after a withdrawal",
            vec![
                given("newsletter"),
                ("ana", consent(purpose("newsletter"), Withdrawn)),
                given("newsletter"),
            ],
            purpose("newsletter"),
            &[],
            true,
        ),
        Case {
            asked_after_days: 2 * 365 + 1,
            ..case(
                "consent older than consent_expires_after",
                vec![given("newsletter")],
                purpose("newsletter"),
                &[],
                false,
            )
        },
        case(
            "consent recorded as expired",
            vec![
                given("newsletter"),
                ("ana", consent(purpose("newsletter"), Expired)),
            ],
            purpose("newsletter"),
            &[],
            false,
        ),
        case(
            "consent for another purpose does not count",
            vec![given("ads")],
            purpose("newsletter"),
            &[],
            false,
        ),
        case(
            "objection to direct marketing on consent",
            vec![
                given("newsletter"),
                (
                    "ana",
                    Action::Objection {
                        purpose: "newsletter".parse().unwrap(),
                        raised: true,
                    },
                ),
            ],
            purpose("newsletter"),
            &[],
            false,
        ),
        case(
            "objection to legitimate interests",
            vec![(
                "ana",
                Action::Objection {
                    purpose: "fraud".parse().unwrap(),
                    raised: true,
                },
            )],
            purpose("fraud"),
            &[],
            false,
        ),
        case(
            "objection lifted",
            vec![
                (
                    "ana",
                    Action::Objection {
                        purpose: "offers".parse().unwrap(),
                        raised: true,
                    },
                ),
                (
                    "ana",
                    Action::Objection {
                        purpose: "offers".parse().unwrap(),
                        raised: false,
                    },
                ),
            ],
            purpose("offers"),
            &[],
            true,
        ),
        case(
            "objection does not stop a contract",
            vec![(
                "ana",
                Action::Objection {
                    purpose: "orders".parse().unwrap(),
                    raised: true,
                },
            )],
            purpose("orders"),
            &[],
            true,
        ),
        case(
            "restriction stops a contract",
            vec![("ana", Action::Restriction { raised: true })],
            purpose("orders"),
            &[],
            false,
        ),
        case(
            "restriction leaves legal obligations",
            vec![("ana", Action::Restriction { raised: true })],
            purpose("bookkeeping"),
            &[],
            true,
        ),
        case(
            "restriction stops consent-based use",
            vec![
                given("newsletter"),
                ("ana", Action::Restriction { raised: true }),
            ],
            purpose("newsletter"),
            &[],
            false,
        ),
        case(
            "restriction lifted",
            vec![
                ("ana", Action::Restriction { raised: true }),
                ("ana", Action::Restriction { raised: false }),
            ],
            purpose("orders"),
            &[],
            true,
        ),
        case(
            "opt-out stops sharing for advertising",
            vec![given("ads"), ("ana", Action::OptOut { raised: true })],
            purpose("ads"),
            &[],
            false,
        ),
        case(
            "opt-out leaves purposes that neither sell nor share",
            vec![
                given("newsletter"),
                ("ana", Action::OptOut { raised: true }),
            ],
            purpose("newsletter"),
            &[],
            true,
        ),
        case(
            "consent by continued use is no consent",
            vec![given("prize-draw")],
            purpose("prize-draw"),
            &[],
            false,
        ),
        case(
            "strictly necessary cookies need no consent",
            vec![],
            cookies(CookieCategory::StrictlyNecessary),
            &[],
            true,
        ),
        case(
            "analytics cookies without consent",
            vec![],
            cookies(CookieCategory::Analytics),
            &[],
            false,
        ),
        case(
            "analytics cookies with consent",
            vec![("ana", consent(cookies(CookieCategory::Analytics), Given))],
            cookies(CookieCategory::Analytics),
            &[],
            true,
        ),
        Case {
            asked_after_days: 13 * 31,
            ..case(
                "analytics cookies past reask_after",
                vec![("ana", consent(cookies(CookieCategory::Analytics), Given))],
                cookies(CookieCategory::Analytics),
                &[],
                false,
            )
        },
        case(
            "advertising cookies after an opt-out",
            vec![
                ("ana", consent(cookies(CookieCategory::Advertising), Given)),
                ("ana", Action::OptOut { raised: true }),
            ],
            cookies(CookieCategory::Advertising),
            &[],
            false,
        ),
        case(
            "undeclared cookie category",
            vec![],
            cookies(CookieCategory::SocialMedia),
            &[],
            false,
        ),
        case(
            "anonymous consent counts once linked",
            vec![
                ("visitor-9", consent(purpose("newsletter"), Given)),
                ("visitor-9", Action::Link { to: subject("ana") }),
            ],
            purpose("newsletter"),
            &[],
            true,
        ),
        case(
            "the later choice wins across linked ids",
            vec![
                given("newsletter"),
                ("visitor-9", consent(purpose("newsletter"), Withdrawn)),
                ("visitor-9", Action::Link { to: subject("ana") }),
            ],
            purpose("newsletter"),
            &[],
            false,
        ),
    ]
}

#[test]
fn decisions_follow_the_table() {
    let decl = decl();
    let policy = ConsentPolicy::new(&decl);
    let mut snapshot = Vec::new();
    for c in cases() {
        let index = index(&policy, &c.events);
        let query = Query {
            target: c.target.clone(),
            categories: c.categories.iter().map(|s| s.parse().unwrap()).collect(),
        };
        let now = T0 + c.asked_after_days * DAY;
        let d = index.decide(&policy, &subject("ana"), &query, now);
        assert_eq!(d.allow, c.allow, "{}: {d:?}", c.name);
        snapshot.push(serde_json::json!({ "case": c.name, "decision": d }));
    }
    insta::assert_json_snapshot!("consent_decisions", snapshot);
}

#[test]
fn a_linked_anonymous_id_answers_as_the_known_subject() {
    let policy = ConsentPolicy::new(&decl());
    let index = index(
        &policy,
        &[
            (
                "visitor-9",
                consent(purpose("newsletter"), ConsentState::Given),
            ),
            ("visitor-9", Action::Link { to: subject("ana") }),
            (
                "visitor-7",
                Action::Link {
                    to: subject("visitor-9"),
                },
            ),
        ],
    );
    let query = Query {
        target: purpose("newsletter"),
        categories: vec![],
    };
    for who in ["ana", "visitor-9", "visitor-7"] {
        assert!(
            index.decide(&policy, &subject(who), &query, T0 + DAY).allow,
            "{who}"
        );
    }
    assert_eq!(
        index.linked_ids(&subject("visitor-7")),
        vec![subject("ana"), subject("visitor-9"), subject("visitor-7")]
    );
}

#[test]
fn replayed_events_are_applied_once() {
    let policy = ConsentPolicy::new(&decl());
    let mut index = index(
        &policy,
        &[("ana", consent(purpose("newsletter"), ConsentState::Given))],
    );
    let withdrawn = ConsentEvent {
        subject: subject("ana"),
        action: consent(purpose("newsletter"), ConsentState::Withdrawn),
        at: T0,
        expires_at: None,
        notice_version: None,
        text_hash: None,
        method: Method::Api,
        evidence: Evidence::default(),
        actor: "test".into(),
    };
    // Number 1 was applied already: a second delivery changes nothing.
    index.apply(1, &withdrawn);
    let query = Query {
        target: purpose("newsletter"),
        categories: vec![],
    };
    assert!(index.decide(&policy, &subject("ana"), &query, T0).allow);
    assert_eq!(index.last_seq(), 1);
}

#[test]
fn expiry_uses_the_calendar() {
    let policy = ConsentPolicy::new(&decl());
    // 31 January 2026 + 13 months = 28 February 2027 (the day is clamped).
    let jan31 = 1_769_817_600;
    let end = policy
        .expires_at(&Target::Cookies(CookieCategory::Analytics), jan31)
        .unwrap();
    assert_eq!(
        pledge_lang::time::CivilTime::from_unix(end).to_rfc3339(),
        "2027-02-28T00:00:00Z"
    );
    assert_eq!(policy.expires_at(&purpose("orders"), jan31), None);
}

#[test]
fn addresses_are_cut_to_their_network() {
    for (ip, cut) in [
        ("203.0.113.77", "203.0.113.0/24"),
        ("10.1.2.3", "10.1.2.0/24"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("::1", "::/48"),
    ] {
        assert_eq!(truncate_ip(ip.parse().unwrap()), cut, "{ip}");
    }
    let long = "x".repeat(600) + "é";
    let e = Evidence::new(None, Some(&long));
    assert_eq!(e.user_agent.unwrap().len(), 512);
}

#[test]
fn withdraw_all_names_every_consent_purpose() {
    let policy = ConsentPolicy::new(&decl());
    let ids: Vec<String> = policy
        .consent_purposes()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ids, ["ads", "newsletter", "prize-draw"]);
    assert_eq!(
        policy.cookie_categories(),
        [
            CookieCategory::StrictlyNecessary,
            CookieCategory::Analytics,
            CookieCategory::Advertising
        ]
    );
}

/// Every DPV term a receipt uses exists in the DPV vocabulary.
#[test]
fn receipts_use_real_dpv_terms() {
    let decl = decl();
    let dpv = pledge_testkit::dpv_terms("dpv.csv");
    let gdpr = pledge_testkit::dpv_terms("eu-gdpr.csv");
    for state in [
        ConsentState::Given,
        ConsentState::Refused,
        ConsentState::Withdrawn,
        ConsentState::Expired,
    ] {
        let e = ConsentEvent {
            subject: subject("ana"),
            action: consent(purpose("newsletter"), state),
            at: T0,
            expires_at: None,
            notice_version: Some("v1".into()),
            text_hash: None,
            method: Method::Form,
            evidence: Evidence::new(Some("192.0.2.1".parse().unwrap()), Some("curl")),
            actor: "test".into(),
        };
        let r = receipt(&decl, &e, 7, "ab");
        let mut used = Vec::new();
        collect_terms(&r, &mut used);
        assert!(used.len() >= 3, "{used:?}");
        for t in used {
            assert!(
                dpv.contains(&t) || gdpr.contains(&t),
                "{t} is not a DPV term"
            );
        }
        if state == ConsentState::Given {
            insta::assert_json_snapshot!("consent_receipt", r);
        }
    }
}

fn collect_terms(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.starts_with("dpv:") || s.starts_with("eu-gdpr:") => {
            out.push(s.clone())
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_terms(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_terms(x, out)),
        _ => {}
    }
}

proptest! {
    #[test]
    fn targets_and_actions_read_back_what_they_write(
        id in "[a-z0-9][a-z0-9_-]{0,20}",
        who in "[!-~]{1,128}",
        category in 0usize..6,
        state in 0usize..4,
        raised in any::<bool>(),
    ) {
        let states = [ConsentState::Given, ConsentState::Refused, ConsentState::Withdrawn, ConsentState::Expired];
        let actions = [
            consent(purpose(&id), states[state]),
            consent(Target::Cookies(COOKIE_CATEGORIES[category]), states[state]),
            Action::Objection { purpose: id.parse().unwrap(), raised },
            Action::Restriction { raised },
            Action::OptOut { raised },
            Action::Link { to: who.parse().unwrap() },
        ];
        for a in actions {
            let c = a.columns();
            prop_assert_eq!(Action::from_columns(c.kind, c.target.as_deref(), c.state).unwrap(), a);
        }
        let s: SubjectRef = who.parse().unwrap();
        prop_assert_eq!(s.as_str(), who.as_str());
    }

    #[test]
    fn subject_ids_reject_spaces_and_control_characters(s in ".*[ \\x00-\\x1f\\x7f].*") {
        prop_assert!(s.parse::<SubjectRef>().is_err());
    }
}

/// Rights requests recorded in the ledger: each records what changes, and a second run,
/// after the first's events, records nothing.
#[test]
fn rights_requests_record_only_what_changes() {
    use pledge_lang::rights::Right;
    let policy = ConsentPolicy::new(&decl());
    let ana = subject("ana");
    let events = [
        ("ana", consent(purpose("newsletter"), ConsentState::Given)),
        ("ana", consent(purpose("ads"), ConsentState::Refused)),
        (
            "ana",
            consent(
                Target::Cookies(CookieCategory::Analytics),
                ConsentState::Given,
            ),
        ),
    ];
    let now = T0 + 10 * DAY;
    let names = |actions: &[Action]| -> Vec<String> {
        actions
            .iter()
            .map(|a| {
                let c = a.columns();
                format!("{} {} {}", c.kind, c.target.unwrap_or_default(), c.state)
            })
            .collect()
    };
    for (right, expected) in [
        (
            Right::WithdrawConsent,
            vec![
                "consent purpose:newsletter withdrawn",
                "consent cookies:analytics withdrawn",
            ],
        ),
        (
            Right::Objection,
            vec![
                "objection fraud raised",
                "objection newsletter raised",
                "objection offers raised",
            ],
        ),
        (Right::Restriction, vec!["restriction  raised"]),
        (Right::OptOut, vec!["opt_out  raised"]),
        (Right::Access, vec![]),
        (Right::Erasure, vec![]),
    ] {
        let mut index = index(&policy, &events);
        let actions = request_actions(&policy, right, index.state(&ana), now);
        assert_eq!(names(&actions), expected, "{right}");
        for (i, action) in actions.into_iter().enumerate() {
            let e = ConsentEvent {
                subject: ana.clone(),
                action,
                at: now,
                expires_at: None,
                notice_version: None,
                text_hash: None,
                method: Method::RightsRequest,
                evidence: Evidence::default(),
                actor: "test".into(),
            };
            index.apply(100 + i as i64, &e);
        }
        let again = request_actions(&policy, right, index.state(&ana), now);
        assert!(again.is_empty(), "{right} again: {:?}", names(&again));
    }
    // Nobody known to the ledger: an objection and an opt-out still stand for later.
    let unknown = request_actions(&policy, Right::OptOut, None, now);
    assert_eq!(names(&unknown), ["opt_out  raised"]);
}
