//! The dictionaries embedded in the crate (`data/`, see `data/LICENSES.md`) and the word
//! lists written here, folded for lookup: lower case, Latin diacritics removed.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const GIVEN: &str = include_str!("../data/given_names.txt");
const FAMILY: &str = include_str!("../data/family_names.txt");
const PLACES: &str = include_str!("../data/places.txt");
const COUNTRIES: &str = include_str!("../data/countries.txt");

/// FNV-1a: the keys are short words, SipHash's protection is not needed here.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type Set = HashSet<String, BuildHasherDefault<Fnv>>;
pub type Map<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

pub struct Dictionaries {
    pub given: Set,
    pub family: Set,
    /// Cities, US states and countries.
    pub places: Set,
    pub countries: Set,
    /// Words that are names or places in the lists but common words in prose.
    pub stop: Set,
    /// The most words a place name of the list has (`Rio de Janeiro`: 3).
    pub place_words: usize,
    pub special: crate::special::Keywords,
}

impl Dictionaries {
    pub fn load() -> Self {
        let given = lines(GIVEN);
        let family = lines(FAMILY);
        let countries = lines(COUNTRIES);
        let mut places = lines(PLACES);
        places.extend(countries.iter().cloned());
        let place_words = places
            .iter()
            .map(|p| p.split(' ').count())
            .max()
            .unwrap_or(1)
            .min(4);
        let stop = STOP_WORDS.iter().map(|w| fold(w)).collect();
        Dictionaries {
            given,
            family,
            places,
            countries,
            stop,
            place_words,
            special: crate::special::Keywords::new(),
        }
    }
}

fn lines(text: &str) -> Set {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(fold)
        .collect()
}

/// Lower case with the diacritics of Latin letters removed (`Müller` -> `muller`,
/// `Ørsted` -> `orsted`, `Straße` -> `strasse`); hyphens and spaces kept.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(s, &mut out);
    out
}

/// [`fold`] into a buffer the caller reuses.
pub fn fold_into(s: &str, out: &mut String) {
    out.clear();
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä'
            | 'Å' | 'Ā' | 'Ă' | 'Ą' => "a",
            'æ' | 'Æ' => "ae",
            'ç' | 'ć' | 'č' | 'ĉ' | 'Ç' | 'Ć' | 'Č' => "c",
            'ď' | 'đ' | 'ð' | 'Ď' | 'Đ' | 'Ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė'
            | 'Ę' | 'Ě' => "e",
            'ğ' | 'ģ' | 'Ğ' | 'Ģ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'Į' | 'İ' => {
                "i"
            }
            'ķ' | 'Ķ' => "k",
            'ł' | 'ľ' | 'ĺ' | 'ļ' | 'Ł' | 'Ľ' | 'Ĺ' | 'Ļ' => "l",
            'ñ' | 'ń' | 'ň' | 'ņ' | 'Ñ' | 'Ń' | 'Ň' | 'Ņ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø'
            | 'Ō' | 'Ő' => "o",
            'œ' | 'Œ' => "oe",
            'ř' | 'ŕ' | 'Ř' | 'Ŕ' => "r",
            'ś' | 'š' | 'ş' | 'ș' | 'Ś' | 'Š' | 'Ş' | 'Ș' => "s",
            'ß' => "ss",
            'ť' | 'ţ' | 'ț' | 'Ť' | 'Ţ' | 'Ț' => "t",
            'þ' | 'Þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' | 'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů'
            | 'Ű' | 'Ų' => "u",
            'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "y",
            'ź' | 'ż' | 'ž' | 'Ź' | 'Ż' | 'Ž' => "z",
            '\u{2019}' => "'",
            _ => {
                out.extend(c.to_lowercase());
                continue;
            }
        };
        out.push_str(base);
    }
}

/// Common words of English, French, German and Danish that the name and place lists
/// also hold (`Will`, `May`, `Grant`, `Mark`, `Street`...): not a name or a place alone.
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "age", "ago", "air", "all", "also", "am", "an", "and",
    "any", "apt", "are", "art", "as", "ask", "at", "august", "avenue", "away", "baby", "back",
    "bad", "ball", "band", "bank", "bay", "be", "beach", "bear", "beauty", "bell", "best", "big",
    "bill", "bird", "black", "bliss", "blue", "book", "boss", "box", "boy", "bridge", "brook",
    "brother", "brown", "bush", "but", "by", "call", "can", "cane", "car", "card", "care", "case",
    "cash", "castle", "center", "centre", "chance", "charity", "child", "church", "city", "clay",
    "cliff", "close", "coast", "cole", "college", "cook", "corner", "could", "council", "country",
    "court", "cross", "crown", "customer", "dale", "date", "day", "dean", "dear", "deer", "desk",
    "did", "do", "does", "dollar", "dot", "down", "drake", "dream", "drive", "duke", "each",
    "earl", "early", "east", "easy", "echo", "else", "email", "end", "english", "even", "ever",
    "every", "faith", "fall", "farm", "fax", "field", "fine", "first", "fish", "fisher", "flower",
    "for", "ford", "forest", "fort", "fox", "free", "french", "friday", "from", "frost", "garden",
    "gate", "gay", "german", "gift", "girl", "glad", "glen", "god", "gold", "golden", "good",
    "grace", "grand", "grant", "gray", "great", "green", "grey", "guy", "had", "hall", "happy",
    "hard", "has", "have", "he", "heart", "heaven", "her", "here", "hero", "hi", "hill", "him",
    "his", "holiday", "holly", "home", "honey", "hope", "horse", "hot", "house", "how", "hunter",
    "i", "if", "in", "inn", "is", "island", "it", "its", "ivy", "jack", "jade", "jay", "jewel",
    "joy", "july", "june", "just", "key", "kind", "king", "knight", "lake", "land", "lane", "last",
    "law", "le", "lee", "let", "life", "light", "like", "lily", "little", "long", "lord", "love",
    "lucky", "made", "mail", "main", "major", "make", "man", "manager", "many", "march", "mark",
    "market", "mason", "may", "me", "mercy", "met", "middle", "mill", "miller", "mine", "miss",
    "mobile", "monday", "moon", "more", "most", "mount", "much", "music", "must", "my", "name",
    "new", "news", "next", "nice", "night", "no", "noble", "north", "not", "note", "now", "number",
    "of", "office", "oh", "ok", "old", "on", "one", "only", "or", "other", "our", "out", "over",
    "page", "palm", "park", "party", "pay", "peace", "pearl", "people", "person", "phone", "pine",
    "place", "please", "plaza", "point", "pool", "port", "post", "price", "pride", "prince",
    "queen", "rain", "ray", "read", "real", "red", "reed", "rich", "ring", "river", "road", "rock",
    "rose", "royal", "ruby", "rush", "sage", "saint", "sale", "sales", "same", "sand", "say",
    "school", "sea", "see", "she", "ship", "shop", "short", "should", "silver", "sky", "small",
    "smart", "snow", "so", "some", "son", "song", "south", "spring", "square", "st", "staff",
    "star", "station", "still", "stone", "story", "street", "strong", "suite", "summer", "sun",
    "sunday", "support", "sweet", "take", "tea", "team", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "time", "to", "today", "top", "tower",
    "town", "tree", "true", "tuesday", "under", "union", "unit", "up", "us", "valley", "very",
    "view", "village", "want", "war", "was", "water", "way", "we", "well", "were", "west", "what",
    "when", "where", "which", "white", "who", "why", "will", "win", "wind", "winter", "with",
    "wolf", "wood", "word", "world", "would", "year", "yes", "you", "young", "your", "zip",
    // French, German, Danish
    "au", "aux", "avec", "ce", "dans", "de", "des", "du", "elle", "en", "est", "et", "il", "la",
    "les", "mais", "ou", "par", "pas", "pour", "que", "qui", "sur", "une", "un", "vous", "am",
    "auf", "aus", "bei", "das", "dem", "den", "der", "die", "ein", "eine", "es", "für", "ich",
    "ist", "mit", "nach", "nicht", "oder", "sie", "und", "von", "vor", "wir", "zu", "af", "at",
    "da", "de", "den", "der", "det", "efter", "eller", "er", "for", "fra", "han", "hun", "jeg",
    "med", "men", "og", "om", "på", "som", "til", "ved",
];
