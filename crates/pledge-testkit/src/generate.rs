//! Generates large, realistic declarations for benchmarks: many purposes, recipients,
//! transfers and datasets, written as TOML text the way a user would write them.

use std::fmt::Write;

const CATEGORIES: &[&str] = &[
    "identity.name",
    "contact.email",
    "contact.phone",
    "contact.address",
    "online.ip_address",
    "behavior.usage",
    "transaction.purchase",
    "financial.card",
    "device.identifier",
    "location.approximate",
];

const BASES: &[&str] = &[
    "\"contract\"",
    "{ basis = \"consent\", withdrawal = \"Account settings.\" }",
    "{ basis = \"legitimate_interests\", interest = \"Keeping the service secure\", balancing_test = true }",
    "{ basis = \"legal_obligation\", law = \"Bookkeeping Act § 10\" }",
];

/// A declaration with `purposes` purposes and `datasets` datasets (each with 5 tables of
/// 6 columns).
pub fn declaration(purposes: usize, datasets: usize) -> String {
    let mut s = String::with_capacity(purposes * 600 + datasets * 2000);
    s.push_str(
        r#"security = ["encryption_at_rest", "encryption_in_transit", "access_control"]

[policy]
title = "Generated notice"
effective_date = 2026-01-01
regimes = ["gdpr"]

[controller]
name = "Generated Ltd"
address = "1 Example Street, Brussels"
country = "BE"
email = "privacy@example.com"

[supervisory_authority]
name = "Data Protection Authority"
country = "BE"

[rights]
offered = ["access", "rectification", "erasure", "restriction", "objection", "portability", "withdraw_consent", "complaint"]
contact = "privacy@example.com"
response_time = "P1M"

[[subjects]]
id = "customers"
name = "Customers"

[[subjects]]
id = "visitors"
name = "Website visitors"
"#,
    );
    let recipients = (purposes / 10).max(1);
    for r in 0..recipients {
        let country = if r.is_multiple_of(3) { "US" } else { "DE" };
        let _ = write!(
            s,
            "\n[[recipients]]\nid = \"vendor-{r}\"\nname = \"Vendor {r}\"\nrole = \"processor\"\nservice = \"Service {r}\"\ncountry = \"{country}\"\ncontract = true\n"
        );
        if country == "US" {
            let _ = write!(
                s,
                "\n[[transfers]]\nid = \"vendor-{r}-us\"\nrecipient = \"vendor-{r}\"\ncountry = \"US\"\nmechanism = \"scc\"\ncopy = \"On request to privacy@example.com\"\nsupplementary_measures = \"Encryption in transit and at rest.\"\n"
            );
        }
    }
    for p in 0..purposes {
        let c1 = CATEGORIES[p % CATEGORIES.len()];
        let c2 = CATEGORIES[(p + 3) % CATEGORIES.len()];
        let basis = BASES[p % BASES.len()];
        let r = p % recipients;
        let transfers = if r.is_multiple_of(3) {
            format!("[\"vendor-{r}-us\"]")
        } else {
            "[]".into()
        };
        let _ = write!(
            s,
            "\n[[purposes]]\nid = \"purpose-{p}\"\nname = \"Purpose number {p}\"\ndescription = \"What purpose {p} does with the data, in plain words.\"\nsubjects = [\"customers\"]\ncategories = [\"{c1}\", \"{c2}\"]\nlegal_bases = [{basis}]\nrequirement = \"voluntary\"\nretention = {{ period = \"P{}M\", after = \"account closure\" }}\nrecipients = [\"vendor-{r}\"]\ntransfers = {transfers}\n",
            1 + p % 24
        );
    }
    for d in 0..datasets {
        let _ = write!(
            s,
            "\n[[datasets]]\nid = \"db-{d}\"\nengine = \"postgres\"\nconnection_env = \"DB_{d}_URL\"\n"
        );
        for t in 0..5 {
            let _ = write!(
                s,
                "\n[[datasets.tables]]\nname = \"table_{t}\"\nsubject = \"customers\"\nidentity = {{ email = \"email\" }}\ncolumns = {{ email = \"contact.email\", name = \"identity.name\", phone = \"contact.phone\", ip = \"online.ip_address\", card = \"financial.card\", city = \"location.approximate\" }}\n"
            );
        }
    }
    s
}
