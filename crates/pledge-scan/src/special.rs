//! Words of the special categories of personal data (GDPR Art. 9) in English, Danish,
//! French and German. A keyword says that a text *talks about* health, religion, union
//! membership...; it does not say that the text is about the person it names. Findings
//! are therefore of low confidence, and reported beside whatever else they overlap.

use crate::dict::{Map, fold};
use crate::{Evidence, Finding, Kind};

/// A special category of personal data (GDPR Art. 9(1)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Special {
    /// Data concerning health.
    Health,
    /// Religious or philosophical beliefs.
    Religion,
    /// Trade union membership.
    TradeUnion,
    /// Racial or ethnic origin.
    Ethnicity,
    /// Sex life or sexual orientation.
    SexualOrientation,
    /// Political opinions.
    Political,
    /// Biometric data for identification.
    Biometric,
    /// Genetic data.
    Genetic,
}

impl Special {
    /// Every special category.
    pub const ALL: [Special; 8] = [
        Special::Health,
        Special::Religion,
        Special::TradeUnion,
        Special::Ethnicity,
        Special::SexualOrientation,
        Special::Political,
        Special::Biometric,
        Special::Genetic,
    ];

    /// The taxonomy's category (`pledge_lang::taxonomy`).
    pub fn category(self) -> &'static str {
        match self {
            Special::Health => "special.health",
            Special::Religion => "special.religious",
            Special::TradeUnion => "special.trade_union",
            Special::Ethnicity => "special.racial_ethnic",
            Special::SexualOrientation => "special.sex_life",
            Special::Political => "special.political",
            Special::Biometric => "special.biometric",
            Special::Genetic => "special.genetic",
        }
    }
}

use Special::*;

/// Keywords, lower case; a trailing `*` matches any word that starts so; several words
/// must follow one another.
const KEYWORDS: &[(Special, &[&str])] = &[
    (
        Health,
        &[
            // English
            "health condition",
            "medical condition",
            "diagnosis",
            "diagnosed",
            "disease",
            "illness",
            "sick leave",
            "cancer",
            "diabet*",
            "hiv",
            "aids",
            "asthma",
            "epilep*",
            "depression",
            "anxiety disorder",
            "schizophren*",
            "bipolar",
            "dementia",
            "alzheimer*",
            "pregnan*",
            "disabilit*",
            "disabled",
            "medication",
            "prescription",
            "allergy",
            "allergies",
            "allergic",
            "surgery",
            "chemotherapy",
            "hospitalised",
            "hospitalized",
            "medical record*",
            "blood type",
            "covid",
            "mental health",
            "therapist",
            "psychiatr*",
            // German
            "krankheit*",
            "erkrankung*",
            "erkrankt",
            "diagnose",
            "krebs",
            "schwanger*",
            "behinderung*",
            "medikament*",
            "krankenhaus*",
            "krankschreibung",
            "krankgeschrieben",
            "arztbrief",
            "gesundheitszustand",
            "gesundheitsdaten",
            "allergie*",
            "psychisch*",
            // French
            "maladie*",
            "diagnostic",
            "enceinte",
            "grossesse",
            "handicap*",
            "médicament*",
            "hôpital",
            "hospitalisé*",
            "ordonnance",
            "arrêt maladie",
            "santé",
            "dossier médical",
            // Danish
            "sygdom*",
            "kræft",
            "gravid*",
            "medicin",
            "sygehus*",
            "hospital",
            "sygemeld*",
            "sundhedsoplysninger",
            "helbred*",
            "diagnosen",
        ],
    ),
    (
        Religion,
        &[
            "religion",
            "religious",
            "muslim*",
            "islam*",
            "christian*",
            "catholic*",
            "protestant*",
            "jewish",
            "judaism",
            "hindu*",
            "buddhis*",
            "sikh",
            "atheist*",
            "church",
            "mosque",
            "synagogue",
            "kosher",
            "halal",
            "baptised",
            "baptized",
            "religiös*",
            "muslimisch*",
            "christlich*",
            "katholisch*",
            "evangelisch*",
            "jüdisch*",
            "kirche*",
            "moschee*",
            "synagoge",
            "konfession*",
            "religieu*",
            "musulman*",
            "chrétien*",
            "catholique*",
            "juif",
            "juive*",
            "église",
            "mosquée",
            "synagogue",
            "religiøs*",
            "kristen",
            "katolsk*",
            "jødisk*",
            "kirke*",
            "moské*",
            "folkekirke*",
        ],
    ),
    (
        TradeUnion,
        &[
            "trade union*",
            "labor union*",
            "labour union*",
            "union member*",
            "union dues",
            "shop steward",
            "teamsters",
            "gewerkschaft*",
            "betriebsrat*",
            "syndicat*",
            "syndiqué*",
            "syndical*",
            "fagforening*",
            "fagbevægelse*",
            "tillidsrepræsentant*",
            "a-kasse*",
        ],
    ),
    (
        Ethnicity,
        &[
            "ethnic*",
            "racial",
            "race",
            "indigenous",
            "aboriginal",
            "hispanic",
            "latino",
            "latina",
            "african american",
            "caucasian",
            "ethnisch*",
            "ethnie",
            "rasse",
            "migrationshintergrund",
            "herkunft",
            "ethnique*",
            "origine ethnique",
            "racial*",
            "etnisk*",
            "etnicitet",
            "herkomst",
        ],
    ),
    (
        SexualOrientation,
        &[
            "sexual orientation",
            "gay",
            "lesbian*",
            "bisexual*",
            "homosexual*",
            "heterosexual*",
            "transgender",
            "queer",
            "lgbt*",
            "sex life",
            "sexuelle orientierung",
            "schwul*",
            "lesbisch*",
            "bisexuell*",
            "homosexuell*",
            "orientation sexuelle",
            "homosexuel*",
            "lesbienne*",
            "bisexuel*",
            "seksuel orientering",
            "bøsse*",
            "lesbisk*",
            "biseksuel*",
            "homoseksuel*",
        ],
    ),
    (
        Political,
        &[
            "political opinion*",
            "political party",
            "political view*",
            "party member*",
            "democrat*",
            "republican*",
            "socialist*",
            "communist*",
            "labour party",
            "green party",
            "voted for",
            "parteimitglied*",
            "partei*",
            "politische meinung",
            "politische einstellung",
            "sozialdemokrat*",
            "opinion politique",
            "opinions politiques",
            "parti politique",
            "socialiste*",
            "communiste*",
            "militant*",
            "politisk*",
            "partimedlem*",
            "socialdemokrat*",
        ],
    ),
    (
        Biometric,
        &[
            "biometric*",
            "fingerprint*",
            "facial recognition",
            "face scan",
            "iris scan",
            "retina scan",
            "voiceprint*",
            "palm print*",
            "biometrisch*",
            "fingerabdr*",
            "gesichtserkennung",
            "biométrique*",
            "empreinte digitale",
            "empreintes digitales",
            "reconnaissance faciale",
            "biometrisk*",
            "fingeraftryk*",
            "ansigtsgenkendelse",
        ],
    ),
    (
        Genetic,
        &[
            "genetic*",
            "dna",
            "genome*",
            "genotype*",
            "gene test*",
            "genetisch*",
            "erbgut",
            "gentest*",
            "dna-test*",
            "génétique*",
            "adn",
            "génome*",
            "genetisk*",
            "arvemasse",
            "genom",
        ],
    ),
];

struct Entry {
    special: Special,
    keyword: &'static str,
    /// The folded words after the first; the last may be a prefix.
    rest: Vec<String>,
    prefix: bool,
}

/// The keywords compiled for lookup by their first word.
pub struct Keywords {
    exact: Map<Vec<Entry>>,
    /// Single-word prefixes (`diabet*`).
    prefixes: Vec<(String, Special, &'static str)>,
}

impl Keywords {
    pub fn new() -> Self {
        let mut exact: Map<Vec<Entry>> = Map::default();
        let mut prefixes = Vec::new();
        for &(special, words) in KEYWORDS {
            for &keyword in words {
                let prefix = keyword.ends_with('*');
                let folded = fold(keyword.trim_end_matches('*'));
                let mut parts = folded.split(' ').map(str::to_string);
                let Some(first) = parts.next() else { continue };
                let rest: Vec<String> = parts.collect();
                if rest.is_empty() && prefix {
                    prefixes.push((first, special, keyword));
                } else {
                    exact.entry(first).or_default().push(Entry {
                        special,
                        keyword,
                        rest,
                        prefix,
                    });
                }
            }
        }
        Keywords { exact, prefixes }
    }
}

/// Words of letters (with inner hyphens), folded.
fn words(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let inner_hyphen =
            c == '-' && start.is_some() && iter.peek().is_some_and(|&(_, n)| n.is_alphabetic());
        if c.is_alphabetic() || inner_hyphen {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push((s, i, fold(&text[s..i])));
        }
    }
    if let Some(s) = start {
        out.push((s, text.len(), fold(&text[s..])));
    }
    out
}

pub fn scan(dict: &crate::dict::Dictionaries, text: &str, out: &mut Vec<Finding>) {
    // Most texts have no keyword: a cheap pass over the words first.
    let kw = &dict.special;
    let ws = words(text);
    for (n, (start, end, w)) in ws.iter().enumerate() {
        if let Some(entries) = kw.exact.get(w) {
            for e in entries {
                let k = e.rest.len();
                if k > 0 && n + k >= ws.len() {
                    continue;
                }
                let ok = e.rest.iter().enumerate().all(|(j, r)| {
                    let Some((_, _, next)) = ws.get(n + 1 + j) else {
                        return false;
                    };
                    if e.prefix && j + 1 == k {
                        next.starts_with(r.as_str())
                    } else {
                        next == r
                    }
                });
                if ok {
                    let last_end = if k == 0 { *end } else { ws[n + k].1 };
                    out.push(finding(e.special, *start..last_end, e.keyword));
                    break;
                }
            }
            continue;
        }
        if let Some((_, special, keyword)) = kw
            .prefixes
            .iter()
            .find(|(p, _, _)| w.starts_with(p.as_str()))
        {
            out.push(finding(*special, *start..*end, keyword));
        }
    }
}

fn finding(special: Special, span: std::ops::Range<usize>, keyword: &'static str) -> Finding {
    Finding::new(
        Kind::Special(special),
        span,
        0.5,
        Evidence::Dictionary("special_categories"),
    )
    .with(Evidence::Context(keyword))
}

#[cfg(test)]
mod tests {
    use super::Special::*;
    use crate::{Kind, Scanner};

    fn specials(text: &str) -> Vec<super::Special> {
        Scanner::shared()
            .scan_text(text)
            .into_iter()
            .filter_map(|f| match f.kind {
                Kind::Special(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn keywords_in_four_languages() {
        assert_eq!(
            specials("She was diagnosed with diabetes"),
            [Health, Health]
        );
        assert_eq!(specials("Er ist Mitglied der Gewerkschaft"), [TradeUnion]);
        assert_eq!(specials("il est musulman"), [Religion]);
        assert_eq!(specials("han er medlem af en fagforening"), [TradeUnion]);
        assert_eq!(specials("her sexual orientation"), [SexualOrientation]);
        assert_eq!(specials("Fingerabdrücke gespeichert"), [Biometric]);
        assert_eq!(specials("a DNA sample"), [Genetic]);
        assert_eq!(specials("opinion politique"), [Political]);
        assert!(specials("the union of two sets").is_empty());
    }
}
