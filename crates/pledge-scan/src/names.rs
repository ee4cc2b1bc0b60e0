//! Person names, places, street addresses and the postal codes that follow a place, by
//! dictionaries (`data/`), capitalisation and context words.
//!
//! In prose a given name starts a name when it is capitalised and not a common word;
//! following capitalised words (a family name of the list, or not) and a middle initial
//! extend it. A capitalised word after a title (`Mr`, `Frau`, `Mme`...) or after `my name
//! is` is a name whatever the lists say. Places are the longest run of capitalised words
//! (up to four) that is a place of the list. In a column value the whole value is
//! looked up, in any case (`MARY`, `SMITH`).

use crate::dict::{Dictionaries, fold_into};
use crate::{Evidence, Finding, Kind, Mode};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    /// `Mary`, `McDonald`, `O'Brien`.
    Title,
    /// `MARY`.
    Upper,
    /// `mary`, or anything else.
    Lower,
}

struct Token {
    start: usize,
    end: usize,
    case: Case,
    folded: String,
    /// A digit token (house numbers, postal codes) rather than a word.
    number: bool,
}

const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "herr", "frau", "monsieur",
    "madame", "mme", "mlle", "hr", "fru", "dame", "lady", "lord",
];

const NAME_INTROS: &[&[&str]] = &[
    &["name", "is"],
    &["name"],
    &["i", "am"],
    &["called"],
    &["named"],
    &["appelle"],
    &["heiße"],
    &["heisse"],
    &["hedder"],
    &["navn", "er"],
    &["signed"],
    &["dear"],
    &["by"],
    &["call", "me"],
    &["calls", "me"],
    &["says"],
    &["said"],
    &["starring"],
    &["add"],
    &["kid"],
    &["with"],
];

/// Verbs after a capitalised word at the start of a sentence that make it a person:
/// `Alvir spent a year`, `Shovda is very`, `Timotea lives on`.
const PERSON_VERBS: &[&str] = &[
    "lives", "lived", "spent", "shouted", "began", "says", "said", "wrote", "works", "worked",
    "moved", "asked", "told", "married", "died", "was", "is", "has", "had", "will",
];

const PLACE_PREPOSITIONS: &[&str] = &[
    "in", "at", "from", "to", "near", "of", "à", "en", "aus", "nach", "bei", "i", "fra", "til",
    "city", "country", "visit", "visited", "lives", "live", "moved",
];

const STREET_WORDS: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "lane",
    "ln",
    "drive",
    "dr",
    "boulevard",
    "blvd",
    "way",
    "court",
    "ct",
    "place",
    "pl",
    "loop",
    "parkway",
    "pkwy",
    "square",
    "sq",
    "terrace",
    "crescent",
    "highway",
    "hwy",
    "alley",
    "circle",
    "trail",
    "path",
    "row",
    "close",
    "gardens",
    "walk",
    "plaza",
    "strasse",
    "straße",
    "str",
    "weg",
    "allee",
    "platz",
    "gasse",
    "ring",
    "damm",
    "ufer",
    "gade",
    "vej",
    "vaenget",
    "alle",
    "stræde",
    "torv",
    "veien",
    "vegen",
    "gata",
    "gatan",
    "vägen",
    "katu",
    "tie",
    "rue",
    "avenida",
    "calle",
    "via",
    "rua",
    "viale",
    "piazza",
    "chemin",
    "allée",
    "impasse",
    "quai",
    "plads",
    "boulevard",
    "sw",
    "nw",
    "ne",
    "se",
];

/// Titles written before a name in a cell (beside [`TITLES`]).
const VALUE_TITLES: &[&str] = &[
    "ing",
    "dipl",
    "dipl.-ing",
    "univ",
    "univ.prof",
    "dott",
    "dottssa",
    "pan",
    "pani",
    "sig",
    "sra",
    "sr",
    "mag",
    "mgr",
    "rev",
    "hon",
    "dhr",
    "mevr",
    "ir",
    "drs",
    "prof.dr",
];

/// Degrees and suffixes written after a name.
const DEGREES: &[&str] = &[
    "ba", "ma", "mba", "phd", "md", "dds", "jr", "ii", "iii", "iv", "msc", "bsc", "llm", "mfa",
    "esq",
];

/// Lower-case particles inside names: `van der`, `de`, `del`, `di`, `von`.
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "del", "della", "di", "da", "du", "le", "la", "ten", "ter",
    "zu", "dos", "das", "do", "y", "e", "af", "al", "el", "bin", "ibn",
];

/// Two words before a place: `flew to`, `grew up in`, `moved here from`.
const PLACE_CONTEXT: &[(&str, &str)] = &[
    ("flew", "to"),
    ("moved", "to"),
    ("up", "in"),
    ("lives", "in"),
    ("live", "in"),
    ("lived", "in"),
    ("am", "in"),
    ("i'm", "in"),
    ("born", "in"),
    ("located", "in"),
    ("here", "from"),
    ("originally", "from"),
    ("trip", "to"),
    ("travel", "to"),
    ("travelled", "to"),
    ("traveled", "to"),
    ("city", "of"),
    ("town", "of"),
    ("where", "in"),
    ("wohnt", "in"),
    ("habite", "à"),
    ("bor", "i"),
];

/// Words before the number of a flat or a post box.
const UNIT_WORDS: &[&str] = &[
    "apt",
    "apartment",
    "suite",
    "unit",
    "box",
    "postbox",
    "flat",
    "psc",
    "bldg",
    "floor",
];

const STREET_SUFFIXES: &[&str] = &[
    "strasse", "straße", "weg", "allee", "platz", "gasse", "gade", "vej", "veien", "gatan",
    "vägen", "katu", "street", "laan", "straat", "gracht",
];

const STREET_PREFIXES: &[&str] = &[
    "rue",
    "avenida",
    "calle",
    "via",
    "rua",
    "viale",
    "piazza",
    "chemin",
    "allée",
    "impasse",
    "quai",
    "avenue",
    "boulevard",
    "plaza",
    "praça",
    "largo",
    "travessa",
    "ulica",
    "ul",
];

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut buf = String::new();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_digit() {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            // A house number may carry a letter: 7727B.
            if let Some(&(j, d)) = chars.peek()
                && d.is_ascii_uppercase()
                && j == end
            {
                let after = text[j + 1..].chars().next();
                if after.is_none_or(|a| !a.is_alphanumeric()) {
                    end = j + 1;
                    chars.next();
                }
            }
            out.push(Token {
                start: i,
                end,
                case: Case::Lower,
                folded: String::new(),
                number: true,
            });
            continue;
        }
        if !c.is_alphabetic() {
            continue;
        }
        let mut end = i + c.len_utf8();
        let mut upper = usize::from(c.is_uppercase());
        let mut lower = usize::from(c.is_lowercase());
        let first_upper = c.is_uppercase();
        while let Some(&(j, d)) = chars.peek() {
            if d.is_alphabetic() {
                upper += usize::from(d.is_uppercase());
                lower += usize::from(d.is_lowercase());
                end = j + d.len_utf8();
                chars.next();
                continue;
            }
            // An apostrophe or hyphen inside a word: O'Brien, Jean-Pierre; not a
            // possessive `'s` (Matej's).
            if matches!(d, '\'' | '-' | '\u{2019}') {
                let rest = &text[j + d.len_utf8()..];
                let mut after = rest.chars();
                let possessive = d != '-'
                    && matches!(after.next(), Some('s' | 'S'))
                    && after.next().is_none_or(|c| !c.is_alphabetic());
                if !possessive && rest.chars().next().is_some_and(char::is_alphabetic) {
                    end = j + d.len_utf8();
                    chars.next();
                    continue;
                }
            }
            break;
        }
        let case = if first_upper && lower > 0 {
            Case::Title
        } else if upper > 0 && lower == 0 {
            Case::Upper
        } else {
            Case::Lower
        };
        fold_into(&text[i..end], &mut buf);
        out.push(Token {
            start: i,
            end,
            case,
            folded: buf.clone(),
            number: false,
        });
    }
    out
}

/// Inside the same line, with at most a comma and spaces between.
fn same_line(text: &str, a: &Token, b: &Token) -> bool {
    let gap = &text[a.end..b.start];
    gap.len() <= 3 && gap.chars().all(|c| c == ' ' || c == ',' || c == '.')
}

pub fn scan(dict: &Dictionaries, text: &str, mode: Mode, out: &mut Vec<Finding>) {
    let toks = tokens(text);
    if toks.is_empty() {
        return;
    }
    if mode == Mode::Value {
        value(dict, text, &toks, out);
        return;
    }
    let is_cap =
        |t: &Token| t.case == Case::Title || (t.case == Case::Upper && t.end - t.start > 1);
    let not_stop = |t: &Token| !dict.stop.contains(&t.folded);
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if t.number {
            if let Some(end) = street_after_number(text, &toks, i) {
                let span = t.start..toks[end].end;
                out.push(Finding::new(
                    Kind::StreetAddress,
                    span,
                    0.6,
                    Evidence::Pattern("number and street"),
                ));
                i = end + 1;
                continue;
            }
            i += 1;
            continue;
        }
        // `Apt. 595`, `Suite 501`, `Box 8144`.
        if UNIT_WORDS.contains(&t.folded.as_str())
            && let Some(n) = toks.get(i + 1)
            && n.number
            && matches!(&text[t.end..n.start], " " | ". ")
        {
            out.push(Finding::new(
                Kind::StreetAddress,
                t.start..n.end,
                0.5,
                Evidence::Pattern("unit and number"),
            ));
            i += 2;
            continue;
        }
        // A state or country code and a postal code: `QC 54256`, `AA 42323`.
        if t.case == Case::Upper
            && t.end - t.start == 2
            && let Some(n) = toks.get(i + 1)
            && n.number
            && (4..=6).contains(&(n.end - n.start))
            && &text[t.end..n.start] == " "
            && crate::text::ends_word(text.as_bytes(), n.end)
        {
            out.push(Finding::new(
                Kind::PostalCode,
                n.start..n.end,
                0.45,
                Evidence::Pattern("code and digits"),
            ));
            i += 2;
            continue;
        }
        // A name written in lower case after `my name is`, `call me`: from the lists only.
        if t.case == Case::Lower
            && dict.given.contains(&t.folded)
            && let Some(w) =
                intro_before(&toks, i).filter(|w| matches!(*w, "is" | "name" | "me" | "am"))
        {
            let mut end = i;
            if let Some(n) = toks.get(i + 1)
                && &text[t.end..n.start] == " "
                && dict.family.contains(&n.folded)
                && !dict.stop.contains(&n.folded)
            {
                end = i + 1;
            }
            out.push(Finding::new(
                Kind::PersonName,
                t.start..toks[end].end,
                0.5,
                Evidence::Context(w),
            ));
            i = end + 1;
            continue;
        }
        if !is_cap(t) {
            i += 1;
            continue;
        }
        // A street named first: `Rue de la Paix 12`, `Berger Straße 10`, `Ullevålsveien 14`.
        if let Some(end) = street_named_first(text, &toks, i) {
            out.push(Finding::new(
                Kind::StreetAddress,
                t.start..toks[end].end,
                0.55,
                Evidence::Pattern("street and number"),
            ));
            i = end + 1;
            continue;
        }
        let prev = i.checked_sub(1).map(|p| &toks[p]);
        let title = prev.filter(|p| TITLES.contains(&p.folded.as_str()) && p.end + 2 >= t.start);
        let intro = intro_before(&toks, i);
        let given = dict.given.contains(&t.folded) && not_stop(t) && t.case == Case::Title;
        let preposition = prev.is_some_and(|p| {
            PLACE_PREPOSITIONS.contains(&p.folded.as_str()) && p.end + 1 == t.start
        });
        // The longest place of the list starting here.
        let place = longest_place(dict, text, &toks, i);
        let place_single_is_name =
            place == Some(i) && (given || dict.family.contains(&t.folded)) && !preposition;
        if let Some(end) = place
            && !place_single_is_name
            && title.is_none()
            && intro.is_none()
            && (end > i || not_stop(t))
        {
            let mut f = Finding::new(
                Kind::Place,
                t.start..toks[end].end,
                0.5,
                Evidence::Dictionary("places"),
            );
            if let Some(p) = prev.filter(|_| preposition) {
                f = f.boost(
                    0.2,
                    Evidence::Context(static_word(PLACE_PREPOSITIONS, &p.folded)),
                );
            }
            out.push(f);
            postal_after(text, &toks, end, out);
            i = end + 1;
            continue;
        }
        // `Faina D. Yefremova`: a capitalised word, an initial, a capitalised word.
        let initial_next = toks.get(i + 1).is_some_and(|n| {
            n.case == Case::Upper && n.end - n.start == 1 && &text[t.end..n.start] == " "
        }) && toks.get(i + 2).is_some_and(|n| {
            n.case == Case::Title && matches!(&text[toks[i + 1].end..n.start], " " | ". ")
        }) && not_stop(t);
        if given || title.is_some() || intro.is_some() || initial_next {
            // Extend over a middle initial and up to two capitalised words.
            let mut end = i;
            let mut last_family = false;
            let mut k = i + 1;
            while k < toks.len() && k <= i + 3 {
                let n = &toks[k];
                let gap = &text[toks[k - 1].end..n.start];
                let initial = n.case == Case::Upper && n.end - n.start == 1 && (gap == " ");
                if initial {
                    k += 1;
                    continue;
                }
                let ok_gap = matches!(gap, " " | "-" | ". ");
                if !ok_gap || n.case != Case::Title || !not_stop(n) || n.number {
                    break;
                }
                if STREET_WORDS.contains(&n.folded.as_str()) {
                    break;
                }
                end = k;
                last_family = dict.family.contains(&n.folded);
                k += 1;
            }
            let (confidence, evidence) = match (title, intro) {
                (Some(p), _) => (0.7, Evidence::Context(static_word(TITLES, &p.folded))),
                (None, Some(w)) => (0.6, Evidence::Context(w)),
                (None, None) if !given => (0.5, Evidence::Pattern("name, initial, name")),
                (None, None) if end > i && last_family => {
                    (0.75, Evidence::Dictionary("given_names"))
                }
                (None, None) if end > i => (0.55, Evidence::Dictionary("given_names")),
                (None, None) => (0.4, Evidence::Dictionary("given_names")),
            };
            let mut f = Finding::new(
                Kind::PersonName,
                t.start..toks[end].end,
                confidence,
                evidence,
            );
            if last_family {
                f = f.with(Evidence::Dictionary("family_names"));
            }
            out.push(f);
            i = end + 1;
            continue;
        }
        // A capitalised word after `flew to`, `grew up in`, `moved here from`...: a place
        // even if the list does not have it.
        if not_stop(t)
            && (t.case == Case::Upper && t.end - t.start >= 3 || t.case == Case::Title)
            && i >= 2
        {
            let pair = (toks[i - 2].folded.as_str(), toks[i - 1].folded.as_str());
            if let Some(&(_, w)) = PLACE_CONTEXT.iter().find(|(a, b)| (*a, *b) == pair) {
                let mut end = i;
                while end + 1 < toks.len()
                    && toks[end + 1].case != Case::Lower
                    && !toks[end + 1].number
                    && &text[toks[end].end..toks[end + 1].start] == " "
                    && end < i + 2
                {
                    end += 1;
                }
                out.push(Finding::new(
                    Kind::Place,
                    t.start..toks[end].end,
                    0.4,
                    Evidence::Context(w),
                ));
                postal_after(text, &toks, end, out);
                i = end + 1;
                continue;
            }
        }
        // A capitalised word (or two) at the start of a sentence before a verb of people.
        let at_start =
            prev.is_none_or(|p| text[p.end..t.start].contains(['.', '!', '?', '\n', ':', '"']));
        if at_start && t.case == Case::Title && not_stop(t) && place.is_none() {
            let mut end = i;
            if let Some(n) = toks.get(i + 1)
                && n.case == Case::Title
                && &text[t.end..n.start] == " "
                && not_stop(n)
            {
                end = i + 1;
            }
            if let Some(v) = toks.get(end + 1)
                && &text[toks[end].end..v.start] == " "
                && PERSON_VERBS.contains(&v.folded.as_str())
            {
                out.push(Finding::new(
                    Kind::PersonName,
                    t.start..toks[end].end,
                    0.4,
                    Evidence::Context(static_word(PERSON_VERBS, &v.folded)),
                ));
                i = end + 1;
                continue;
            }
        }
        // A family name alone, not at the start of a sentence.
        let sentence_start = prev.is_none_or(|p| {
            let gap = &text[p.end..t.start];
            gap.contains(['.', '!', '?', '\n', ':', '"'])
        });
        if dict.family.contains(&t.folded)
            && not_stop(t)
            && !sentence_start
            && t.case == Case::Title
        {
            out.push(Finding::new(
                Kind::PersonName,
                t.start..t.end,
                0.3,
                Evidence::Dictionary("family_names"),
            ));
        }
        i += 1;
    }
}

fn static_word(list: &[&'static str], w: &str) -> &'static str {
    list.iter().find(|x| **x == w).copied().unwrap_or("context")
}

/// The words before token `i` that introduce a name (`my name is`, `Name:`).
fn intro_before(toks: &[Token], i: usize) -> Option<&'static str> {
    for intro in NAME_INTROS {
        let n = intro.len();
        if i < n {
            continue;
        }
        if toks[i - n..i]
            .iter()
            .zip(intro.iter())
            .all(|(t, w)| t.folded == *w)
        {
            // `from` and `by` and `dear` are weak: only before two capitalised words.
            return Some(intro[n - 1]);
        }
    }
    None
}

/// The last token of the longest place name starting at token `i`.
fn longest_place(dict: &Dictionaries, text: &str, toks: &[Token], i: usize) -> Option<usize> {
    let mut key = String::new();
    let mut best = None;
    let mut k = i;
    while k < toks.len() && k < i + dict.place_words {
        let t = &toks[k];
        if t.number {
            break;
        }
        if k > i {
            let gap = &text[toks[k - 1].end..t.start];
            if gap != " " && gap != "-" {
                break;
            }
            // Lower-case words inside a place name: `Rio de Janeiro`, `Saint-Denis`.
            key.push_str(gap);
        } else if t.case == Case::Lower {
            break;
        }
        key.push_str(&t.folded);
        if dict.places.contains(&key) && t.case != Case::Lower {
            best = Some(k);
        }
        k += 1;
    }
    best
}

/// A postal code after a place on the same line: `Uruguay 64677`, `, PA 73161`.
fn postal_after(text: &str, toks: &[Token], place_end: usize, out: &mut Vec<Finding>) {
    let Some(next) = toks.get(place_end + 1) else {
        return;
    };
    if !next.number || !same_line(text, &toks[place_end], next) {
        return;
    }
    let len = next.end - next.start;
    if (3..=6).contains(&len) {
        out.push(Finding::new(
            Kind::PostalCode,
            next.start..next.end,
            0.5,
            Evidence::Context("after a place"),
        ));
    }
}

/// After a house number, up to four capitalised words ending in a street word or with a
/// street suffix: `936 Salzburg Lane`, `11120 Jasper Ave NW`, `12 Rue de la Paix`.
fn street_after_number(text: &str, toks: &[Token], i: usize) -> Option<usize> {
    let num = &toks[i];
    if num.end - num.start > 6 {
        return None;
    }
    let mut k = i + 1;
    let mut end = None;
    let mut words = 0;
    let mut capitalised = false;
    while k < toks.len() && words < 5 {
        let t = &toks[k];
        let gap = &text[toks[k - 1].end..t.start];
        if !matches!(gap, " " | ", " | "," | ". ") {
            break;
        }
        if t.number {
            // `923 7 ST NW`, `17151 2450 Crown St`: a numbered street, a second number.
            if t.end - t.start <= 5 && words == 0 {
                k += 1;
                words += 1;
                continue;
            }
            // `28245 Puruntie 82`: the house number after the street.
            if words >= 1 && gap == " " && t.end - t.start <= 4 && capitalised {
                end = Some(k);
            }
            break;
        }
        let w = t.folded.as_str();
        let suffixed = STREET_SUFFIXES.iter().any(|s| w.ends_with(s));
        let particle = matches!(
            w,
            "de" | "la" | "du" | "des" | "do" | "da" | "dos" | "das" | "del"
        );
        if t.case == Case::Lower && !suffixed && !particle {
            break;
        }
        capitalised |= t.case != Case::Lower || suffixed;
        if STREET_WORDS.contains(&w) || suffixed || (words == 0 && STREET_PREFIXES.contains(&w)) {
            end = Some(k);
        }
        words += 1;
        k += 1;
    }
    end
}

/// A street word first and a house number after: `Berger Straße 10`, `Rua da Assunção 53`.
fn street_named_first(text: &str, toks: &[Token], i: usize) -> Option<usize> {
    let mut k = i;
    let mut street = false;
    while k < toks.len() && k < i + 7 {
        let t = &toks[k];
        if k > i {
            let gap = &text[toks[k - 1].end..t.start];
            if !matches!(gap, " " | ". " | ", " | "/ ") {
                return None;
            }
        }
        if t.number {
            return (street && k > i && t.end - t.start <= 5).then_some(k);
        }
        if t.case == Case::Lower
            && !matches!(
                t.folded.as_str(),
                "de" | "la" | "du" | "des" | "do" | "da" | "dos" | "das" | "del" | "di" | "degli"
            )
        {
            return None;
        }
        let w = t.folded.as_str();
        if (k == i && STREET_PREFIXES.contains(&w))
            || STREET_SUFFIXES.iter().any(|s| w.ends_with(s))
            || (k > i && STREET_WORDS.contains(&w))
        {
            street = true;
        }
        k += 1;
    }
    None
}

fn check_year(digits: &str) -> bool {
    digits.len() == 4
        && digits
            .parse::<u32>()
            .is_ok_and(|y| (1900..=2099).contains(&y))
}

/// A column value: the whole value is a name (every word in the name lists), a place of
/// the list, or a street address (a number and capitalised words).
fn value(dict: &Dictionaries, text: &str, toks: &[Token], out: &mut Vec<Finding>) {
    let words: Vec<&Token> = toks.iter().filter(|t| !t.number).collect();
    let all_words = words.len() == toks.len();
    let span = toks[0].start..toks[toks.len() - 1].end;
    // The whole value is a place.
    if all_words {
        let mut key = String::new();
        for (n, t) in toks.iter().enumerate() {
            if n > 0 {
                key.push_str(&text[toks[n - 1].end..t.start]);
            }
            key.push_str(&t.folded);
        }
        let is_place = dict.places.contains(&key);
        let single = toks.len() == 1;
        let name_word = |w: &str| dict.given.contains(w) || dict.family.contains(w);
        // `Dr. Hans-Detlef Trüb B.A.`, `Maarten de Haas-Fiere`: titles, degrees and
        // particles around the names, double names joined by a hyphen.
        let titled = toks.iter().any(|t| {
            TITLES.contains(&t.folded.as_str()) || VALUE_TITLES.contains(&t.folded.as_str())
        });
        let core: Vec<&Token> = toks
            .iter()
            .filter(|t| {
                let w = t.folded.as_str();
                let decoration = TITLES.contains(&w)
                    || VALUE_TITLES.contains(&w)
                    || DEGREES.contains(&w)
                    || (t.case == Case::Lower && PARTICLES.contains(&w));
                !decoration
            })
            .collect();
        let known = |t: &Token| {
            name_word(&t.folded) || (t.folded.contains('-') && t.folded.split('-').all(name_word))
        };
        let is_name = (1..=4).contains(&core.len())
            && core.iter().all(|t| {
                (t.case != Case::Lower && (known(t) || titled))
                    || (t.end - t.start == 1 && t.case == Case::Upper)
            })
            && core.iter().any(|t| t.end - t.start > 1)
            && (core.len() > 1 || toks.len() > 1 || !dict.stop.contains(&key));
        // A single word that is a name and a city (`Paris`, `Moore`) is read as a name;
        // a country stays a country.
        let name_too = single && dict.given.contains(&key);
        if is_place && (!name_too || dict.countries.contains(&key)) {
            out.push(Finding::new(
                Kind::Place,
                span,
                0.6,
                Evidence::Dictionary("places"),
            ));
            return;
        }
        if is_name {
            let source = if core.iter().any(|t| dict.given.contains(&t.folded)) {
                "given_names"
            } else {
                "family_names"
            };
            out.push(Finding::new(
                Kind::PersonName,
                span,
                0.6,
                Evidence::Dictionary(source),
            ));
            return;
        }
        if is_place {
            out.push(Finding::new(
                Kind::Place,
                span,
                0.5,
                Evidence::Dictionary("places"),
            ));
        }
        if let Some(end) = street_named_first(text, toks, 0) {
            out.push(Finding::new(
                Kind::StreetAddress,
                toks[0].start..toks[end].end,
                0.55,
                Evidence::Pattern("street and number"),
            ));
        }
        return;
    }
    // A house number and capitalised words, or a street and a number.
    let spaced = toks
        .windows(2)
        .all(|w| matches!(&text[w[0].end..w[1].start], " " | ", " | ". " | "-"));
    if toks[0].number
        && toks.len() >= 2
        && toks[0].end - toks[0].start <= 6
        && spaced
        && &text[toks[0].end..toks[1].start] == " "
    {
        let rest_caps = toks[1..].iter().all(|t| {
            t.number
                || t.case != Case::Lower
                || matches!(
                    t.folded.as_str(),
                    "de" | "la" | "du" | "des" | "do" | "da" | "dos" | "das" | "del" | "al" | "s"
                )
        });
        let a_word = toks[1..]
            .iter()
            .any(|t| !t.number && t.case != Case::Lower && t.end - t.start >= 3);
        if rest_caps && a_word {
            out.push(Finding::new(
                Kind::StreetAddress,
                span,
                0.5,
                Evidence::Pattern("number and words"),
            ));
            return;
        }
    }
    if let Some(end) = street_named_first(text, toks, 0) {
        out.push(Finding::new(
            Kind::StreetAddress,
            toks[0].start..toks[end].end,
            0.55,
            Evidence::Pattern("street and number"),
        ));
        return;
    }
    // `Calle Lira, 198`, `Ordynacka 10`: capitalised words and a house number, not a year.
    let last = &toks[toks.len() - 1];
    let year = check_year(&text[last.start..last.end]);
    if last.number
        && toks.len() >= 2
        && spaced
        && !year
        && last.end - last.start <= 5
        && toks[..toks.len() - 1]
            .iter()
            .all(|t| !t.number && t.case != Case::Lower)
        && toks[0].case == Case::Title
    {
        out.push(Finding::new(
            Kind::StreetAddress,
            span,
            0.4,
            Evidence::Pattern("words and number"),
        ));
        return;
    }
    // Text with a street after a number anywhere in it.
    for i in 0..toks.len() {
        if toks[i].number
            && let Some(end) = street_after_number(text, toks, i)
        {
            out.push(Finding::new(
                Kind::StreetAddress,
                toks[i].start..toks[end].end,
                0.55,
                Evidence::Pattern("number and street"),
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, Scanner};

    fn found(text: &str, kind: Kind) -> Vec<String> {
        Scanner::shared()
            .scan_text(text)
            .into_iter()
            .filter(|f| f.kind == kind)
            .map(|f| text[f.span].to_string())
            .collect()
    }

    fn value(text: &str) -> Vec<Kind> {
        Scanner::shared()
            .scan_value(text)
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn names_in_prose() {
        assert_eq!(found("My name is Rubija", Kind::PersonName), ["Rubija"]);
        assert_eq!(
            found(
                "Krisztián Szöllösy listed his top 20 songs",
                Kind::PersonName
            ),
            ["Krisztián Szöllösy"]
        );
        assert_eq!(
            found("Ask Mrs Okonkwo-Bello about it", Kind::PersonName),
            ["Okonkwo-Bello"]
        );
        assert_eq!(
            found("Faina D. Yefremova wrote it", Kind::PersonName),
            ["Faina D. Yefremova"]
        );
        assert!(found("I will grant you that", Kind::PersonName).is_empty());
    }

    #[test]
    fn places_and_postal_codes_in_prose() {
        assert_eq!(
            found(
                "a community orchestra serving Southern Tunisia",
                Kind::Place
            ),
            ["Tunisia"]
        );
        assert_eq!(
            found("We moved to New York last year", Kind::Place),
            ["New York"]
        );
        assert_eq!(
            found("Artilleros\n, CO\n Uruguay 64677", Kind::PostalCode),
            ["64677"]
        );
    }

    #[test]
    fn street_addresses() {
        assert_eq!(
            found("I live at 936 Salzburg Lane now", Kind::StreetAddress),
            ["936 Salzburg Lane"]
        );
        assert_eq!(
            found("Berger Straße 10, Frankfurt", Kind::StreetAddress),
            ["Berger Straße 10"]
        );
    }

    #[test]
    fn values_whole() {
        assert_eq!(value("SMITH"), [Kind::PersonName]);
        assert_eq!(value("Bjørn"), [Kind::PersonName]);
        assert_eq!(value("Oslo"), [Kind::Place]);
        assert_eq!(value("Germany"), [Kind::Place]);
        assert_eq!(value("421 Bourke Street"), [Kind::StreetAddress]);
        assert!(value("Jazz").is_empty());
        assert_eq!(value("Dr. Hans-Detlef Trüb B.A."), [Kind::PersonName]);
        assert_eq!(value("Maarten de Haas-Fiere"), [Kind::PersonName]);
        assert_eq!(value("pan Igor Pasiak"), [Kind::PersonName]);
    }
}
