//! Rules checked against the live databases, by `pledge check --live`: the declaration's
//! datasets read beside the schema each database has ([`pledge_plan::map`]). Their check
//! functions find nothing in the declaration alone; `live_findings` reports them.

use super::{Ctx, Finding, Rule};
use pledge_lang::diagnostic::Severity;
use pledge_plan::map::{DatasetMap, ProblemKind};

fn none(_: &mut Ctx<'_>) {}

pub static SCHEMA_MISMATCH: Rule = Rule {
    id: "live-schema-mismatch",
    severity: Severity::Error,
    title: "Every declared table and column exists in the database",
    source: "GDPR Art. 5(1)(d), 15, 17",
    explanation: "A request reaches only what the declaration names as the database names it. A declared table or column the database does not have makes every request of the dataset fail, and may mean personal data sits somewhere the declaration does not look. Checked by `pledge check --live` against each dataset's live schema.",
    check: none,
};

pub static OWNER_AMBIGUOUS: Rule = Rule {
    id: "live-owner-ambiguous",
    severity: Severity::Error,
    title: "Every table's rows belong to at most one person, through one declared or inferred path",
    source: "GDPR Art. 15(4), 17(1), 5(1)(f)",
    explanation: "A row that refers to two people (an order to its customer and to the employee who took it, a message to its sender and its recipient) is one person's record that mentions the other. When the schema does not say which, an erasure could delete the wrong person's record and an access could disclose another person's data, so requests refuse to touch the table until the declaration names the owning column (`owner = \"customer_id\"`, or `owner = \"none\"` for the company's own records). Checked by `pledge check --live`.",
    check: none,
};

pub static SETTING_INEFFECTIVE: Rule = Rule {
    id: "live-setting-ineffective",
    severity: Severity::Error,
    title: "Every declared erasure, owner and mention setting can take effect on the schema",
    source: "GDPR Art. 17(1), 5(2)",
    explanation: "A setting the database cannot honour (an erasure strategy on a key or foreign-key column, a mention severed to NULL in a NOT NULL column, an `owner` that names no reference) would be skipped while the declaration says it happens: the controller could not demonstrate what its requests do. Checked by `pledge check --live`.",
    check: none,
};

pub static REQUEST_REFUSED: Rule = Rule {
    id: "live-request-refused",
    severity: Severity::Error,
    title: "An access and an erasure of every declared subject can be planned",
    source: "GDPR Art. 12(2), 15, 17",
    explanation: "Pledge plans an access and an erasure for one person of every declared subject table against the live schema, as a request would. A request that cannot be planned would fail when a person exercises the right. Checked by `pledge check --live`.",
    check: none,
};

/// The findings of a map's problems.
pub fn live_findings(maps: &[DatasetMap]) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in maps {
        for p in &m.problems {
            let rule = match p.kind {
                ProblemKind::SchemaMismatch => &SCHEMA_MISMATCH,
                ProblemKind::OwnerAmbiguous => &OWNER_AMBIGUOUS,
                ProblemKind::SettingIneffective => &SETTING_INEFFECTIVE,
                ProblemKind::RequestRefused => &REQUEST_REFUSED,
            };
            out.push(Finding {
                rule: rule.id,
                severity: rule.severity,
                message: format!("dataset `{}`: {}", m.dataset, p.message),
                span: p.span,
                help: p.help.clone(),
                source: rule.source,
            });
        }
    }
    out
}
