//! Column classification: a column's name, SQL type and a sample of its values together
//! give a data category of the declaration's taxonomy, with a confidence and the evidence.
//!
//! The categories are the ids of `pledge_lang::taxonomy` (`contact.email`,
//! `identity.name`, ...), as strings, so that this crate stays free of the declaration
//! language's dependencies; a test checks that each one is a category of the taxonomy.

use std::collections::BTreeMap;

use crate::dict::fold;
use crate::{Kind, Scanner};

/// Why a column was given its category.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnEvidence {
    /// The column's name (normalised: `PostalCode` -> `postal_code`) matched this entry of
    /// the multilingual column-name dictionary.
    Name(&'static str),
    /// The table's name says whose rows these are (`employee`, `kunde`, ...), which
    /// settled an ambiguous column name (`title`, `name`).
    Table(&'static str),
    /// `matched` of the `sampled` non-empty values were found to be of `kind`.
    Values {
        kind: Kind,
        matched: usize,
        sampled: usize,
    },
    /// Free text: `matched` of the `sampled` values hold personal data of `kind`.
    FreeText {
        kind: Kind,
        matched: usize,
        sampled: usize,
    },
    /// The SQL type agrees (`bytea` for a picture) or disagrees (a boolean).
    Type(&'static str),
}

/// The category a column looks like, how sure (0 to 1), and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// A category id of the taxonomy.
    pub category: &'static str,
    /// How sure, from 0 to 1.
    pub confidence: f32,
    /// Why.
    pub evidence: Vec<ColumnEvidence>,
}

/// How much a name alone says: `Strong` names decide, `Weak` ones need the values or
/// the table to agree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Weight {
    Strong,
    Weak,
}
use Weight::*;

/// Column names (normalised: lower case, words joined by `_`, diacritics removed) in
/// English, French, German and Danish, with their category. A name matches when it is
/// the column's whole normalised name, its name without separators, or its last words.
const NAMES: &[(&str, &str, Weight)] = &[
    // identity.name
    ("first_name", "identity.name", Strong),
    ("firstname", "identity.name", Strong),
    ("given_name", "identity.name", Strong),
    ("forename", "identity.name", Strong),
    ("last_name", "identity.name", Strong),
    ("lastname", "identity.name", Strong),
    ("surname", "identity.name", Strong),
    ("family_name", "identity.name", Strong),
    ("middle_name", "identity.name", Strong),
    ("maiden_name", "identity.name", Strong),
    ("full_name", "identity.name", Strong),
    ("fullname", "identity.name", Strong),
    ("display_name", "identity.name", Weak),
    ("contact_name", "identity.name", Strong),
    ("customer_name", "identity.name", Strong),
    ("person_name", "identity.name", Strong),
    ("prenom", "identity.name", Strong),
    ("nom", "identity.name", Strong),
    ("nom_de_famille", "identity.name", Strong),
    ("vorname", "identity.name", Strong),
    ("nachname", "identity.name", Strong),
    ("familienname", "identity.name", Strong),
    ("fornavn", "identity.name", Strong),
    ("efternavn", "identity.name", Strong),
    ("mellemnavn", "identity.name", Strong),
    ("name", "identity.name", Weak),
    ("navn", "identity.name", Weak),
    // contact.email
    ("email", "contact.email", Strong),
    ("e_mail", "contact.email", Strong),
    ("email_address", "contact.email", Strong),
    ("mail", "contact.email", Strong),
    ("courriel", "contact.email", Strong),
    ("adresse_email", "contact.email", Strong),
    ("adresse_mail", "contact.email", Strong),
    ("mailadresse", "contact.email", Strong),
    ("e_post", "contact.email", Strong),
    ("epost", "contact.email", Strong),
    // contact.phone
    ("phone", "contact.phone", Strong),
    ("phone_number", "contact.phone", Strong),
    ("telephone", "contact.phone", Strong),
    ("tel", "contact.phone", Strong),
    ("telefon", "contact.phone", Strong),
    ("telefonnummer", "contact.phone", Strong),
    ("telefone", "contact.phone", Strong),
    ("mobile", "contact.phone", Strong),
    ("mobil", "contact.phone", Strong),
    ("cell", "contact.phone", Strong),
    ("cellphone", "contact.phone", Strong),
    ("fax", "contact.phone", Strong),
    ("handy", "contact.phone", Strong),
    ("portable", "contact.phone", Strong),
    ("tlf", "contact.phone", Strong),
    ("telefonnr", "contact.phone", Strong),
    ("numero_telephone", "contact.phone", Strong),
    // contact.address
    ("address", "contact.address", Strong),
    ("address1", "contact.address", Strong),
    ("address2", "contact.address", Strong),
    ("address_line", "contact.address", Strong),
    ("address_line1", "contact.address", Strong),
    ("address_line2", "contact.address", Strong),
    ("street", "contact.address", Strong),
    ("street_address", "contact.address", Strong),
    ("adresse", "contact.address", Strong),
    ("anschrift", "contact.address", Strong),
    ("strasse", "contact.address", Strong),
    ("rue", "contact.address", Strong),
    ("vej", "contact.address", Strong),
    ("gade", "contact.address", Strong),
    ("city", "contact.address", Strong),
    ("town", "contact.address", Strong),
    ("ville", "contact.address", Strong),
    ("stadt", "contact.address", Strong),
    ("ort", "contact.address", Strong),
    ("wohnort", "contact.address", Strong),
    ("by", "contact.address", Weak),
    ("postal_code", "contact.address", Strong),
    ("postalcode", "contact.address", Strong),
    ("postcode", "contact.address", Strong),
    ("zip", "contact.address", Strong),
    ("zip_code", "contact.address", Strong),
    ("zipcode", "contact.address", Strong),
    ("plz", "contact.address", Strong),
    ("postleitzahl", "contact.address", Strong),
    ("code_postal", "contact.address", Strong),
    ("postnummer", "contact.address", Strong),
    ("postnr", "contact.address", Strong),
    ("district", "contact.address", Strong),
    ("state", "contact.address", Weak),
    ("province", "contact.address", Strong),
    ("county", "contact.address", Strong),
    ("region", "contact.address", Weak),
    ("bundesland", "contact.address", Strong),
    ("country", "contact.address", Weak),
    ("pays", "contact.address", Weak),
    ("land", "contact.address", Weak),
    // identity.date_of_birth
    ("birth_date", "identity.date_of_birth", Strong),
    ("birthdate", "identity.date_of_birth", Strong),
    ("date_of_birth", "identity.date_of_birth", Strong),
    ("dob", "identity.date_of_birth", Strong),
    ("birthday", "identity.date_of_birth", Strong),
    ("geburtsdatum", "identity.date_of_birth", Strong),
    ("geburtstag", "identity.date_of_birth", Strong),
    ("date_naissance", "identity.date_of_birth", Strong),
    ("date_de_naissance", "identity.date_of_birth", Strong),
    ("fodselsdato", "identity.date_of_birth", Strong),
    ("fodselsdag", "identity.date_of_birth", Strong),
    // identity.government_id
    ("ssn", "identity.government_id", Strong),
    ("social_security_number", "identity.government_id", Strong),
    ("nir", "identity.government_id", Strong),
    ("numero_securite_sociale", "identity.government_id", Strong),
    ("cpr", "identity.government_id", Strong),
    ("cpr_nr", "identity.government_id", Strong),
    ("cpr_nummer", "identity.government_id", Strong),
    ("personnummer", "identity.government_id", Strong),
    ("nino", "identity.government_id", Strong),
    (
        "national_insurance_number",
        "identity.government_id",
        Strong,
    ),
    ("steuer_id", "identity.government_id", Strong),
    ("steuerid", "identity.government_id", Strong),
    ("steuer_idnr", "identity.government_id", Strong),
    ("tax_id", "identity.government_id", Strong),
    ("national_id", "identity.government_id", Strong),
    ("passport", "identity.government_id", Strong),
    ("passport_number", "identity.government_id", Strong),
    ("id_card", "identity.government_id", Strong),
    ("personalausweis", "identity.government_id", Strong),
    // financial
    ("iban", "financial.bank_account", Strong),
    ("bank_account", "financial.bank_account", Strong),
    ("account_number", "financial.bank_account", Weak),
    ("kontonummer", "financial.bank_account", Strong),
    ("rib", "financial.bank_account", Strong),
    ("card_number", "financial.card", Strong),
    ("credit_card", "financial.card", Strong),
    ("cc_number", "financial.card", Strong),
    ("pan", "financial.card", Weak),
    ("kreditkarte", "financial.card", Strong),
    ("carte_bancaire", "financial.card", Strong),
    ("salary", "professional.salary", Strong),
    ("income", "financial.income", Strong),
    ("gehalt", "professional.salary", Strong),
    ("salaire", "professional.salary", Strong),
    ("lon", "professional.salary", Weak),
    // online, account
    ("ip", "online.ip_address", Strong),
    ("ip_address", "online.ip_address", Strong),
    ("ipaddress", "online.ip_address", Strong),
    ("remote_addr", "online.ip_address", Strong),
    ("client_ip", "online.ip_address", Strong),
    ("last_ip", "online.ip_address", Strong),
    ("user_agent", "online.user_agent", Strong),
    ("password", "account.credentials", Strong),
    ("passwd", "account.credentials", Strong),
    ("pwd", "account.credentials", Strong),
    ("password_hash", "account.credentials", Strong),
    ("passwort", "account.credentials", Strong),
    ("mot_de_passe", "account.credentials", Strong),
    ("adgangskode", "account.credentials", Strong),
    ("security_answer", "account.credentials", Strong),
    ("username", "identity.username", Strong),
    ("user_name", "identity.username", Strong),
    ("login", "identity.username", Weak),
    ("benutzername", "identity.username", Strong),
    ("brugernavn", "identity.username", Strong),
    ("nom_utilisateur", "identity.username", Strong),
    // identity, other
    ("gender", "identity.gender", Strong),
    ("sex", "identity.gender", Strong),
    ("geschlecht", "identity.gender", Strong),
    ("sexe", "identity.gender", Strong),
    ("kon", "identity.gender", Weak),
    ("age", "identity.age", Strong),
    ("alter", "identity.age", Weak),
    ("alder", "identity.age", Strong),
    ("nationality", "identity.nationality", Strong),
    ("nationalite", "identity.nationality", Strong),
    ("staatsangehorigkeit", "identity.nationality", Strong),
    ("nationalitet", "identity.nationality", Strong),
    ("picture", "identity.picture", Weak),
    ("photo", "identity.picture", Weak),
    ("avatar", "identity.picture", Strong),
    ("profile_picture", "identity.picture", Strong),
    ("portrait", "identity.picture", Strong),
    ("foto", "identity.picture", Weak),
    ("bild", "identity.picture", Weak),
    ("billede", "identity.picture", Weak),
    ("signature", "identity.signature", Strong),
    ("unterschrift", "identity.signature", Strong),
    // professional
    ("company", "professional.employer", Weak),
    ("employer", "professional.employer", Strong),
    ("arbeitgeber", "professional.employer", Strong),
    ("firma", "professional.employer", Weak),
    ("entreprise", "professional.employer", Weak),
    ("employeur", "professional.employer", Strong),
    ("arbejdsgiver", "professional.employer", Strong),
    ("virksomhed", "professional.employer", Weak),
    ("job_title", "professional.job_title", Strong),
    ("title", "professional.job_title", Weak),
    ("position", "professional.job_title", Weak),
    ("hire_date", "professional.history", Strong),
    ("hiredate", "professional.history", Strong),
    ("employment_date", "professional.history", Strong),
    ("einstellungsdatum", "professional.history", Strong),
    ("date_embauche", "professional.history", Strong),
    ("ansaettelsesdato", "professional.history", Strong),
    // special categories
    ("religion", "special.religious", Strong),
    ("confession", "special.religious", Strong),
    ("konfession", "special.religious", Strong),
    ("ethnicity", "special.racial_ethnic", Strong),
    ("race", "special.racial_ethnic", Weak),
    ("ethnie", "special.racial_ethnic", Strong),
    ("sexual_orientation", "special.sex_life", Strong),
    ("diagnosis", "special.health", Strong),
    ("diagnose", "special.health", Strong),
    ("health", "special.health", Strong),
    ("medical_history", "special.health", Strong),
    ("allergies", "special.health", Strong),
    ("blood_type", "special.health", Strong),
    ("union_member", "special.trade_union", Strong),
    ("trade_union", "special.trade_union", Strong),
    ("gewerkschaft", "special.trade_union", Strong),
    ("syndicat", "special.trade_union", Strong),
    ("fagforening", "special.trade_union", Strong),
    ("political_party", "special.political", Strong),
    ("partei", "special.political", Strong),
    ("fingerprint", "special.biometric", Strong),
    ("biometric", "special.biometric", Strong),
    ("genotype", "special.genetic", Strong),
    ("dna", "special.genetic", Strong),
];

/// The categories the column-name dictionary gives, each once.
pub fn name_categories() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = NAMES.iter().map(|(_, c, _)| *c).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Table names whose rows are people: they settle a weak column name.
const PEOPLE_TABLES: &[&str] = &[
    "customer",
    "customers",
    "employee",
    "employees",
    "staff",
    "user",
    "users",
    "person",
    "persons",
    "people",
    "member",
    "members",
    "patient",
    "patients",
    "contact",
    "contacts",
    "client",
    "clients",
    "actor",
    "actors",
    "account",
    "accounts",
    "kunde",
    "kunden",
    "mitarbeiter",
    "benutzer",
    "medarbejder",
    "medarbejdere",
    "bruger",
    "brugere",
    "salarie",
    "salaries",
    "utilisateur",
    "utilisateurs",
    "student",
    "students",
    "subscriber",
    "subscribers",
    "applicant",
    "applicants",
    "address",
    "addresses",
    "invoice",
    "invoices",
    "order",
    "orders",
];

/// Words of a name that mean it holds a key or a flag, not the data: `email_id`,
/// `phone_verified`, `address_id`.
const NOT_DATA: &[&str] = &[
    "id",
    "key",
    "fk",
    "verified",
    "confirmed",
    "count",
    "flag",
    "type",
    "status",
    "format",
    "enabled",
    "is",
    "has",
    "opt",
    "consent",
    "updated",
    "created",
    "changed",
];

/// Splits `BillingPostalCode`, `billing_postal_code`, `Billing-Postal Code` into folded
/// words: `billing`, `postal`, `code`.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(fold(&cur));
                cur.clear();
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(fold(&cur));
            cur.clear();
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(fold(&cur));
    }
    out
}

/// The entry of [`NAMES`] a column name matches: the whole name, the name without
/// separators, or its last words (longest first); a name ending in a key word or a flag
/// matches nothing.
fn name_entry(words: &[String]) -> Option<(&'static str, &'static str, Weight)> {
    if words.is_empty() || words.last().is_some_and(|w| NOT_DATA.contains(&w.as_str())) {
        return None;
    }
    if words
        .first()
        .is_some_and(|w| matches!(w.as_str(), "is" | "has"))
    {
        return None;
    }
    let lookup = |key: &str| NAMES.iter().find(|(n, _, _)| *n == key).copied();
    let joined = words.join("_");
    if let Some(e) = lookup(&joined).or_else(|| lookup(&words.concat())) {
        return Some(e);
    }
    for from in 1..words.len() {
        let tail = &words[from..];
        if let Some(e) = lookup(&tail.join("_")).or_else(|| lookup(&tail.concat())) {
            return Some(e);
        }
    }
    // A word of the name alone: `customer_email_address` has `email`.
    words
        .iter()
        .rev()
        .find_map(|w| lookup(w).filter(|e| e.2 == Strong && w.len() > 3))
}

/// The categories a kind of value found in the column supports.
fn agrees(kind: Kind, category: &str) -> bool {
    match kind.category() {
        Some(c) if c == category => true,
        Some("identity.date_of_birth") => false,
        _ => matches!(
            (kind, category),
            (
                Kind::Date | Kind::DateOfBirth,
                "identity.date_of_birth" | "professional.history"
            ) | (
                Kind::Place | Kind::PostalCode | Kind::StreetAddress,
                "contact.address"
            ) | (Kind::PersonName, "identity.username")
        ),
    }
}

fn is_text_type(sql_type: &str) -> bool {
    let t = sql_type.to_ascii_lowercase();
    t.is_empty()
        || [
            "char", "text", "string", "clob", "varchar", "nvarchar", "json", "citext",
        ]
        .iter()
        .any(|k| t.contains(k))
}

fn is_flag_type(sql_type: &str) -> bool {
    let t = sql_type.to_ascii_lowercase();
    t.starts_with("bool") || t == "bit" || t == "tinyint(1)"
}

fn is_number_type(sql_type: &str) -> bool {
    let t = sql_type.to_ascii_lowercase();
    [
        "int", "numeric", "decimal", "real", "double", "float", "money", "serial",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// The category of a column, from its name (which may be qualified by its table:
/// `employee.title`), its SQL type (as the database spells it; empty if unknown) and a
/// sample of its values (`None`s and empty strings are skipped). `None` when nothing
/// points to personal data.
///
/// Name and values are weighed together: a strong name decides alone and values that
/// agree raise the confidence; a weak name (`name`, `title`, `state`) needs the values
/// or a table of people to agree; values alone decide when at least half of the sample
/// (a third for the kinds with a checksum) is of one kind. Free-text columns (long
/// values of many words) are scanned as prose, and the personal data most often found
/// in them gives the category.
pub fn classify_column<S: AsRef<str>>(
    name: &str,
    sql_type: &str,
    samples: &[S],
) -> Option<Classification> {
    Scanner::shared().classify_column(name, sql_type, samples)
}

impl Scanner {
    /// [`classify_column`] with this scanner.
    pub fn classify_column<S: AsRef<str>>(
        &self,
        name: &str,
        sql_type: &str,
        samples: &[S],
    ) -> Option<Classification> {
        let (table, column) = match name.rsplit_once('.') {
            Some((t, c)) => (Some(t), c),
            None => (None, name),
        };
        let words = words(column);
        let table_words = table.map(self::words).unwrap_or_default();
        let people_table = table_words
            .iter()
            .rev()
            .find_map(|w| PEOPLE_TABLES.iter().find(|p| **p == w.as_str()).copied());
        let entry = name_entry(&words);
        if is_flag_type(sql_type) {
            return None;
        }

        // The values, each scanned as one cell.
        let values: Vec<&str> = samples
            .iter()
            .map(AsRef::as_ref)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
        let mut prose: BTreeMap<Kind, usize> = BTreeMap::new();
        let mut long = 0;
        for v in &values {
            let found = self.scan_value(v);
            let mut seen: Vec<Kind> = Vec::new();
            for f in &found {
                // Only a finding that covers most of the value says what the value is.
                if (f.span.end - f.span.start) * 10 >= v.len() * 7 && !seen.contains(&f.kind) {
                    seen.push(f.kind);
                    *by_kind.entry(f.kind).or_default() += 1;
                }
            }
            if v.len() >= 40 && v.split_whitespace().count() >= 6 {
                long += 1;
                let mut seen: Vec<Kind> = Vec::new();
                for f in self.scan_text(v) {
                    if f.kind.category().is_some() && !seen.contains(&f.kind) {
                        seen.push(f.kind);
                        *prose.entry(f.kind).or_default() += 1;
                    }
                }
            }
        }
        let sampled = values.len();
        let best = by_kind
            .iter()
            .filter(|(k, _)| k.category().is_some() || matches!(k, Kind::Date))
            .max_by_key(|(k, n)| (**n, k.rank()))
            .map(|(k, n)| (*k, *n));

        let mut evidence = Vec::new();
        if let Some((entry_name, category, weight)) = entry {
            evidence.push(ColumnEvidence::Name(entry_name));
            let support = by_kind
                .iter()
                .filter(|(k, _)| agrees(**k, category))
                .map(|(k, n)| (*k, *n))
                .max_by_key(|(_, n)| *n);
            let share = support.map_or(0.0, |(_, n)| n as f32 / sampled.max(1) as f32);
            if let Some((kind, matched)) = support {
                evidence.push(ColumnEvidence::Values {
                    kind,
                    matched,
                    sampled,
                });
            }
            let binary = {
                let t = sql_type.to_ascii_lowercase();
                t.contains("byte") || t.contains("blob") || t.contains("binary") || t == "image"
            };
            if category == "identity.picture" && binary {
                evidence.push(ColumnEvidence::Type("binary"));
            }
            let text_expected = !matches!(
                category,
                "identity.picture"
                    | "identity.age"
                    | "professional.salary"
                    | "financial.income"
                    | "identity.date_of_birth"
                    | "professional.history"
            );
            let type_disagrees =
                text_expected && is_number_type(sql_type) && category != "contact.phone";
            let confidence = match weight {
                Strong if type_disagrees => 0.3,
                Strong => 0.75 + 0.2 * share,
                Weak if share >= 0.3 => 0.55 + 0.35 * share,
                // A picture of a person is binary data in a table of people.
                Weak if people_table.is_some() && (category != "identity.picture" || binary) => {
                    0.55
                }
                Weak => 0.0,
            };
            if weight == Weak
                && share < 0.3
                && let Some(t) = people_table
            {
                evidence.push(ColumnEvidence::Table(t));
            }
            if confidence >= 0.5 {
                return Some(Classification {
                    category,
                    confidence: confidence.min(0.97),
                    evidence,
                });
            }
            evidence.clear();
        }

        // The values alone.
        if let Some((kind, matched)) = best
            && let Some(category) = kind.category()
        {
            let share = matched as f32 / sampled.max(1) as f32;
            let checksum = matches!(
                kind,
                Kind::PaymentCard
                    | Kind::Iban
                    | Kind::FrNir
                    | Kind::DeTaxId
                    | Kind::Email
                    | Kind::IpAddress
            );
            let needed = if checksum { 0.3 } else { 0.5 };
            if share >= needed && sampled >= 1 {
                let category = if kind == Kind::Place {
                    "contact.address"
                } else {
                    category
                };
                return Some(Classification {
                    category,
                    confidence: (0.4 + 0.5 * share).min(0.9),
                    evidence: vec![ColumnEvidence::Values {
                        kind,
                        matched,
                        sampled,
                    }],
                });
            }
        }

        // Free text: personal data inside longer values.
        if is_text_type(sql_type)
            && long * 2 >= sampled.max(1)
            && let Some((kind, matched)) = prose
                .iter()
                .filter(|(k, _)| !matches!(k, Kind::Place | Kind::PersonName | Kind::Special(_)))
                .max_by_key(|(_, n)| **n)
                .map(|(k, n)| (*k, *n))
                .or_else(|| {
                    prose
                        .iter()
                        .filter(|(k, _)| matches!(k, Kind::Special(_)))
                        .max_by_key(|(_, n)| **n)
                        .map(|(k, n)| (*k, *n))
                })
        {
            let share = matched as f32 / sampled.max(1) as f32;
            if share >= 0.1
                && let Some(category) = kind.category()
            {
                return Some(Classification {
                    category,
                    confidence: (0.3 + share).min(0.8),
                    evidence: vec![ColumnEvidence::FreeText {
                        kind,
                        matched,
                        sampled,
                    }],
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(name: &str, sql_type: &str, samples: &[&str]) -> Option<&'static str> {
        classify_column(name, sql_type, samples).map(|c| c.category)
    }

    #[test]
    fn the_example_of_the_docs() {
        let c = classify_column(
            "customer.telefon",
            "varchar(20)",
            &["+45 32 12 34 56", "+45 32 12 34 57"],
        );
        let c = c.expect("a phone column");
        assert_eq!(c.category, "contact.phone");
        assert!((c.confidence - 0.95).abs() < 1e-6, "{}", c.confidence);
        assert_eq!(
            c.evidence,
            [
                ColumnEvidence::Name("telefon"),
                ColumnEvidence::Values {
                    kind: Kind::Phone,
                    matched: 2,
                    sampled: 2
                }
            ]
        );
    }

    #[test]
    fn names_split_and_fold() {
        assert_eq!(words("BillingPostalCode"), ["billing", "postal", "code"]);
        assert_eq!(words("prénom"), ["prenom"]);
        assert_eq!(words("Geburtsdatum"), ["geburtsdatum"]);
        assert_eq!(words("address_line_2"), ["address", "line", "2"]);
    }

    #[test]
    fn multilingual_names_decide() {
        for (name, cat) in [
            ("nom", "identity.name"),
            ("prénom", "identity.name"),
            ("telefon", "contact.phone"),
            ("adresse", "contact.address"),
            ("geburtsdatum", "identity.date_of_birth"),
            ("email", "contact.email"),
            ("first_name", "identity.name"),
            ("postal_code", "contact.address"),
            ("BillingPostalCode", "contact.address"),
            ("fødselsdato", "identity.date_of_birth"),
            ("efternavn", "identity.name"),
        ] {
            assert_eq!(category(name, "text", &[]), Some(cat), "{name}");
        }
        assert_eq!(category("address_id", "integer", &["12"]), None);
        assert_eq!(category("email_verified", "boolean", &["true"]), None);
    }

    #[test]
    fn weak_names_need_values_or_a_table_of_people() {
        assert_eq!(
            category("genre.name", "text", &["Jazz", "Rock", "Metal"]),
            None
        );
        assert_eq!(
            category("actor.name", "text", &["PENELOPE GUINESS", "NICK WAHLBERG"]),
            Some("identity.name")
        );
        assert_eq!(
            category("employee.title", "text", &["Sales Manager"]),
            Some("professional.job_title")
        );
        assert_eq!(category("album.title", "text", &["Into The Light"]), None);
        assert_eq!(
            category("staff.picture", "bytea", &[]),
            Some("identity.picture")
        );
        assert_eq!(category("product.photo", "blob", &[]), None);
        assert_eq!(
            category("users.avatar", "text", &[]),
            Some("identity.picture")
        );
        assert_eq!(category("product.name", "blob", &[]), None);
    }

    #[test]
    fn values_alone_and_free_text() {
        assert_eq!(
            category("c1", "text", &["a@example.com", "b@example.org"]),
            Some("contact.email")
        );
        assert_eq!(
            category("x", "text", &["GB82WEST12345698765432"]),
            Some("financial.bank_account")
        );
        let notes = [
            "Customer called about the invoice, write back to jane.doe@example.com please",
            "Asked for a refund; her address is on file and the phone is fine",
        ];
        assert_eq!(category("notes", "text", &notes), Some("contact.email"));
        assert_eq!(
            category("track.bytes", "integer", &["7747747", "9098263"]),
            None
        );
    }
}
