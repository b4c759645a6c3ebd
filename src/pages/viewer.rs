//! Who the page being rendered, or the server function being run, is for:
//! the viewer the access layer handed on, and the one decision asked again
//! where a server function must hold even if it were served at another
//! path. Server side only.

use crate::access::{Asking, Peer, Verdict, Viewer};
use axum::extract::ConnectInfo;

/// Who the page being rendered is for, from the viewer the layer handed
/// on. Called by the pages' server functions while rendering.
pub fn signed_in() -> Option<crate::status::SignedIn> {
    let parts = leptos::prelude::use_context::<axum::http::request::Parts>()?;
    let viewer = parts.extensions.get::<Viewer>()?;
    Some(crate::status::SignedIn {
        name: viewer.name()?.to_owned(),
        can_sign_out: matches!(viewer, Viewer::User { .. }),
    })
}

/// Whether the viewer of the page being rendered may act (send a test
/// message, open an incident): the one decision, asked about an action,
/// from this request's head and peer. Where the page was reached from does
/// not matter here; the action itself is asked again when it is sent.
pub fn may_act() -> bool {
    matches!(
        action_verdict(),
        Some(Verdict::Pass { .. } | Verdict::CrossSite)
    )
}

/// For the actions' server functions: refuses unless the one decision lets
/// this request act. The layer already refused anyone else at the action's
/// path; this holds even if the function were served at another.
pub fn require_action() -> Result<(), leptos::prelude::ServerFnError> {
    match action_verdict() {
        Some(Verdict::Pass { .. }) => Ok(()),
        _ => Err(leptos::prelude::ServerFnError::new(
            "sign in (or use a write token) to do this",
        )),
    }
}

/// The decision about the current request as an action.
fn action_verdict() -> Option<Verdict> {
    let parts = leptos::prelude::use_context::<axum::http::request::Parts>()?;
    let state = leptos::prelude::use_context::<crate::state::AppState>()?;
    let ConnectInfo(Peer(peer)) = parts.extensions.get::<ConnectInfo<Peer>>()?;
    Some(state.access.decide(&Asking {
        path: crate::access::TEST_MESSAGE,
        unsafe_method: true,
        peer: peer.ip(),
        head: &parts.headers,
    }))
}

/// Who asked for what the server function being run does, for its log and
/// its message: a name, or this machine's user on an open dashboard.
pub fn who_asks() -> String {
    let parts = leptos::prelude::use_context::<axum::http::request::Parts>();
    crate::access::web::author(parts.as_ref().and_then(|p| p.extensions.get::<Viewer>()))
}

/// For the private pages' server functions: refuses unless the request
/// was let in as the private audience. The layer already sends anyone else
/// to sign in; this holds even for a path the layer judged otherwise.
pub fn require_private() -> Result<(), leptos::prelude::ServerFnError> {
    let private = leptos::prelude::use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::status::Audience>().copied())
        == Some(crate::status::Audience::Private);
    private
        .then_some(())
        .ok_or_else(|| leptos::prelude::ServerFnError::new("sign in to see this"))
}
