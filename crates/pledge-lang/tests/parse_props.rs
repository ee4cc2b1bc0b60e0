//! Property tests of the parser: whatever the bytes, loading never panics, and every error
//! points inside the file it is about.

use pledge_lang::{SourceMap, load};
use proptest::prelude::*;

const TEMPLATE: &str = include_str!("../../pledge/templates/init.toml");

fn check_located(name: &str, text: &str) {
    let sources = SourceMap::single(name, text);
    if let Err(errors) = load(&sources) {
        assert!(!errors.is_empty());
        for e in errors {
            if let Some(span) = e.span {
                assert!(span.start <= span.end, "{e:?}");
                assert!(
                    span.end as usize <= text.len(),
                    "{e:?} beyond {} bytes",
                    text.len()
                );
                assert!(sources.locate(span).is_some());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn cutting_a_valid_declaration_never_panics(start in 0usize..TEMPLATE.len(), len in 0usize..80) {
        let end = (start + len).min(TEMPLATE.len());
        if TEMPLATE.is_char_boundary(start) && TEMPLATE.is_char_boundary(end) {
            let text = format!("{}{}", &TEMPLATE[..start], &TEMPLATE[end..]);
            check_located("pledge.toml", &text);
        }
    }

    #[test]
    fn inserting_noise_never_panics(at in 0usize..TEMPLATE.len(), noise in "[\\[\\]{}=\"',.a-z0-9 \n]{0,12}") {
        if TEMPLATE.is_char_boundary(at) {
            let text = format!("{}{}{}", &TEMPLATE[..at], noise, &TEMPLATE[at..]);
            check_located("pledge.toml", &text);
        }
    }

    #[test]
    fn arbitrary_yaml_never_panics(text in "\\PC{0,200}") {
        check_located("pledge.yaml", &text);
    }
}
