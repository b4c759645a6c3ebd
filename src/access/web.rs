//! Access over HTTP: the layer every request hyper serves passes through
//! (it asks `Access::decide`, and hands the viewer and audience on to the
//! handlers), and signing in and out. The login page itself is a page of
//! the app (`pages::login`); it posts here.

use super::{Access, Asking, Peer, Verdict, Viewer, password, session};
use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// The layer: decides, then either passes the request on with its
/// `Viewer` and `Audience` in the extensions, or answers.
pub async fn guard(
    State(access): State<Arc<Access>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    let verdict = access.decide(&Asking {
        path: request.uri().path(),
        unsafe_method: !request.method().is_safe(),
        peer: peer.ip(),
        head: request.headers(),
    });
    match verdict {
        Verdict::Pass { viewer, audience } => {
            let personal = super::answer_is_personal(request.uri().path());
            request.extensions_mut().insert(viewer);
            request.extensions_mut().insert(audience);
            let mut response = next.run(request).await;
            if personal {
                // Another viewer's cache (a CDN, a company proxy) must not
                // hand this answer to the next one who asks.
                response
                    .headers_mut()
                    .entry(header::CACHE_CONTROL)
                    .or_insert(HeaderValue::from_static("private, no-store"));
            }
            response
        }
        Verdict::SignIn if matches!(*request.method(), Method::GET | Method::HEAD) => {
            let asked = request.uri().path_and_query().map_or("/", |p| p.as_str());
            see_other(&format!("/login?next={}", encode(asked)))
        }
        Verdict::SignIn | Verdict::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"pulse\"")],
            "sign in, or send a token: Authorization: Bearer …\n",
        )
            .into_response(),
        Verdict::Forbidden => (
            StatusCode::FORBIDDEN,
            "not for you: a token's scope, or a viewer who may look but not act\n",
        )
            .into_response(),
        Verdict::CrossSite => (
            StatusCode::FORBIDDEN,
            "refused: sent from a page of another site\n",
        )
            .into_response(),
        Verdict::UnknownHost => (
            StatusCode::MISDIRECTED_REQUEST,
            "this host name is not served here\n",
        )
            .into_response(),
        Verdict::UserHeaderRepeated => (
            StatusCode::BAD_REQUEST,
            "refused: the proxy's user header came more than once; \
             the proxy in front must replace the client's, not add its own\n",
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    user: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a session cookie and back to where the user was going,
/// or back to the form saying why not.
pub(crate) async fn sign_in(
    State(access): State<Arc<Access>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !super::from_this_site(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site sign-in refused\n").into_response();
    }
    let client = access.client_address(peer.ip(), &headers);
    let gate = access.gate();
    // Asked before anything depends on whether the name is a user's, so
    // real and made-up names are answered alike.
    if let Err(wait) = access.throttle.attempt(client, &form.user) {
        tracing::warn!(user = ?form.user, %client, "sign-in attempts throttled");
        return too_many_attempts(wait);
    }
    let next = local_path(&form.next);
    let user = gate.users.get(&form.user).cloned();
    let (Some(known), Some(key)) = (user, &gate.key) else {
        return match password::matches(None, form.password).await {
            Ok(_) => failed(client, &form.user, next),
            Err(password::Busy) => busy(),
        };
    };
    match password::matches(Some(known.clone()), form.password).await {
        Ok(true) => {}
        Ok(false) => return failed(client, &form.user, next),
        Err(password::Busy) => return busy(),
    }
    let Ok(value) = key.issue(&form.user, &known) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    access.throttle.signed_in(client, &form.user);
    tracing::info!(user = %form.user, %client, "signed in");
    let secure = match access.came_over_tls(peer.ip(), &headers) {
        true => "; Secure",
        false => "",
    };
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        session::COOKIE,
        key.lifetime().as_secs()
    );
    with_cookie(see_other(next), &cookie)
}

/// `POST /logout`: ends the session (it is refused from now on, even if
/// the cookie was copied) and clears the cookie.
pub(crate) async fn sign_out(
    State(access): State<Arc<Access>>,
    headers: HeaderMap,
    viewer: Option<axum::Extension<Viewer>>,
) -> Response {
    if !super::from_this_site(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site sign-out refused\n").into_response();
    }
    if let Some(axum::Extension(Viewer::User { name, session })) = viewer {
        access.sign_out(&session);
        tracing::info!(user = %name, "signed out");
    }
    let cleared = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
        session::COOKIE
    );
    with_cookie(see_other("/login"), &cleared)
}

/// Whether a request comes from a page's plain form (it accepts HTML): it
/// is answered with a redirect back to a page, a script with a status.
pub(crate) fn from_a_page(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The name an action is written down with: the viewer's, or this
/// machine's user on an open dashboard (the only other viewer who acts).
pub(crate) fn author(viewer: Option<&Viewer>) -> String {
    viewer
        .and_then(Viewer::name)
        .map_or_else(|| "the open dashboard's user".into(), String::from)
}

fn failed(client: std::net::IpAddr, user: &str, next: &str) -> Response {
    // `?`: the name is whatever was typed, newlines included; escaped, it
    // cannot forge a log line.
    tracing::warn!(?user, %client, "sign-in failed");
    see_other(&format!("/login?failed=1&next={}", encode(next)))
}

/// Every password check is taken (many attempts from many addresses).
fn busy() -> Response {
    tracing::warn!("sign-in attempts are queueing; answering 503");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "too many sign-ins at once; try again in a few seconds\n",
    )
        .into_response()
}

fn too_many_attempts(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, seconds.to_string()),
            (header::CONTENT_TYPE, "text/html; charset=utf-8".into()),
        ],
        format!(
            "<!DOCTYPE html><title>Pulse</title><p>Too many sign-in attempts. \
             Try again in {seconds} s. <a href=\"/login\">Back</a></p>"
        ),
    )
        .into_response()
}

/// Where to go after signing in: a path on this site, never another site
/// (`//evil.example` and `/\evil.example` are other sites to a browser).
fn local_path(next: &str) -> &str {
    // Only visible ASCII and no backslash at all: a browser drops tabs and
    // newlines from a URL, and reads `\` as `/`, so `/\t/evil.example`
    // would become `//evil.example`.
    let visible = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let local = visible && next.starts_with('/') && !next.starts_with("//");
    if local && !next.starts_with("/login") {
        next
    } else {
        "/"
    }
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(local_path("/checks/web?x=1"), "/checks/web?x=1");
        for elsewhere in [
            "//evil.example/",
            "/\\evil.example",
            "/\t/evil.example",
            "/a\\..\\\\evil.example",
            "https://evil.example",
            "",
            "/login",
        ] {
            assert_eq!(local_path(elsewhere), "/", "{elsewhere}");
        }
    }
}
