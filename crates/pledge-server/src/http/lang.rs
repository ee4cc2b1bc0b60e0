//! The language of a page for the person ([`PageLang`]): chosen by [`i18n::negotiate`] from
//! `?lang=`, the language cookie, `Accept-Language` and `public.language`, with the
//! switcher's links (the same address in each other language) and the headers that go
//! with it: the cookie when `?lang=` chose, `Content-Language`, and `Vary`.

use crate::AppState;
use crate::i18n;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;
use minijinja::{Value, context};
use std::convert::Infallible;

/// A page's language, and how to offer the others.
#[derive(Debug, Clone)]
pub struct PageLang {
    pub lang: &'static str,
    /// `?lang=` named a language: it is kept in the cookie.
    chosen: bool,
    /// The server is reached over HTTPS (`public.base_url`): the cookie says `Secure`.
    secure: bool,
    /// The page's path and its query without `lang`, for the switcher; none for the answer
    /// to a form post (the address is not one to open again).
    here: Option<(String, Vec<(String, String)>)>,
}

impl PageLang {
    /// A page in `lang`, without a switcher.
    pub fn fixed(lang: &'static str) -> PageLang {
        PageLang {
            lang,
            chosen: false,
            secure: false,
            here: None,
        }
    }

    /// The same page in the language a form named (its `language` field), if it is one.
    pub fn or_field(self, field: Option<&str>) -> PageLang {
        match field.and_then(i18n::matching) {
            Some(lang) => PageLang { lang, ..self },
            None => self,
        }
    }

    /// What the layout needs: `lang`, and `languages` for the switcher (each with its
    /// `tag`, its `name` in itself, its `href`, and whether it is `current`).
    pub fn context(&self) -> Value {
        let languages: Vec<Value> = match &self.here {
            None => Vec::new(),
            Some((path, query)) => i18n::languages()
                .map(|tag| {
                    let mut q = form_urlencoded::Serializer::new(String::new());
                    for (k, v) in query {
                        q.append_pair(k, v);
                    }
                    q.append_pair("lang", tag);
                    context! {
                        tag,
                        name => i18n::tr(tag, "language.name", &[]),
                        href => format!("{path}?{}", q.finish()),
                        current => tag == self.lang,
                    }
                })
                .collect(),
        };
        context! { lang => self.lang, languages }
    }

    /// The headers of a page in this language.
    pub fn finish(&self, response: &mut Response) {
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(self.lang),
        );
        // The same address answers in several languages: caches must keep them apart.
        h.append(
            header::VARY,
            HeaderValue::from_static("Accept-Language, Cookie"),
        );
        if self.chosen {
            // The person's own choice, made with the switcher, kept for their next pages: a
            // setting of the interface they asked for, which needs no consent. No script
            // reads it; it is sent to this server only.
            let cookie = format!(
                "{}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{}",
                i18n::COOKIE,
                self.lang,
                if self.secure { "; Secure" } else { "" }
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                h.append(header::SET_COOKIE, value);
            }
        }
    }

    /// The language of a request's parts.
    pub fn of(
        state: &AppState,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
    ) -> Self {
        let query: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let asked = query
            .iter()
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| i18n::matching(v));
        let cookie = cookie(headers, i18n::COOKIE);
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let lang = i18n::negotiate(
            asked,
            cookie.as_deref(),
            accept,
            &state.config.public.language,
        );
        let here = (method == Method::GET || method == Method::HEAD).then(|| {
            (
                uri.path().to_string(),
                query.into_iter().filter(|(k, _)| k != "lang").collect(),
            )
        });
        PageLang {
            lang,
            chosen: asked.is_some(),
            secure: state.config.public.base_url.starts_with("https://"),
            here,
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
}

impl FromRequestParts<AppState> for PageLang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(PageLang::of(
            state,
            &parts.method,
            &parts.uri,
            &parts.headers,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; pledge_lang=da ; b=2"),
        );
        assert_eq!(cookie(&h, "pledge_lang").as_deref(), Some("da"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
