//! Byte-level helpers the recognisers share.

/// A byte that belongs to a word: an ASCII letter or digit, or any byte of a non-ASCII
/// character (letters of other scripts count as letters).
pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Nothing of a word touches position `i` from the left.
pub fn starts_word(bytes: &[u8], i: usize) -> bool {
    i == 0 || !is_word(bytes[i - 1])
}

/// Nothing of a word touches position `j` from the right.
pub fn ends_word(bytes: &[u8], j: usize) -> bool {
    j >= bytes.len() || !is_word(bytes[j])
}

/// The largest index `<= i` that is a character boundary of `text`.
pub fn floor_boundary(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest index `>= i` that is a character boundary of `text`.
pub fn ceil_boundary(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The first of `words` (lower-case, ASCII or UTF-8) that occurs as a whole word in
/// `text[from..to]`, compared without ASCII case.
pub fn find_word(
    text: &str,
    from: usize,
    to: usize,
    words: &[&'static str],
) -> Option<&'static str> {
    let from = floor_boundary(text, from);
    let to = ceil_boundary(text, to);
    let hay = &text.as_bytes()[from..to];
    for &w in words {
        let wb = w.as_bytes();
        if wb.len() > hay.len() {
            continue;
        }
        for i in 0..=hay.len() - wb.len() {
            if hay[i..i + wb.len()].eq_ignore_ascii_case(wb)
                && (i == 0 || !hay[i - 1].is_ascii_alphabetic())
                && (i + wb.len() == hay.len() || !hay[i + wb.len()].is_ascii_alphabetic())
            {
                return Some(w);
            }
        }
    }
    None
}

/// A context word within `before` bytes ahead of `span` or `after` bytes behind it.
pub fn context(
    text: &str,
    start: usize,
    end: usize,
    before: usize,
    after: usize,
    words: &[&'static str],
) -> Option<&'static str> {
    find_word(text, start.saturating_sub(before), start, words)
        .or_else(|| find_word(text, end, (end + after).min(text.len()), words))
}
