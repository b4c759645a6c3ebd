//! The incidents' HTTP API. Reading is private (`GET /api/incidents`; the
//! public gets them in `/api/public/status` and its stream); writing is an
//! action (`access::INCIDENTS`): a JSON body from scripts, or a plain form
//! from the dashboard, which works before the WASM has loaded and is sent
//! back to the dashboard.
//!
//! ```text
//! POST /api/incidents               {"title", "message", "status"?, "checks"?: [name or id]}
//! POST /api/incidents/{id}/updates  {"status", "message"}
//! ```

use super::{IncidentError, Incidents, Opening};
use crate::access::Viewer;
use crate::hub::Hub;
use crate::status::{CheckId, IncidentStatus};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /api/incidents`: what the pages show, with authors.
pub(crate) async fn list(State(incidents): State<Arc<Incidents>>) -> Response {
    let now = crate::clock::unix_millis();
    blocking(move || incidents.shown(now).map_err(IncidentError::Unreadable))
        .await
        .map(axum::Json)
        .into_response()
}

/// `POST /api/incidents`.
pub(crate) async fn open(
    State(incidents): State<Arc<Incidents>>,
    State(hub): State<Arc<Hub>>,
    viewer: Option<Extension<Viewer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let asked = match IncidentInput::read(&headers, &body) {
        Ok(asked) => asked,
        Err(why) => {
            return answer(
                &headers,
                Err(IncidentError::Invalid(why)),
                StatusCode::CREATED,
            );
        }
    };
    let opening = asked.opening(&hub);
    let by = author(viewer);
    let done = match opening {
        Ok(opening) => blocking(move || incidents.open(opening, &by, now())).await,
        Err(why) => Err(IncidentError::Invalid(why)),
    };
    answer(&headers, done, StatusCode::CREATED)
}

/// `POST /api/incidents/{id}/updates`.
pub(crate) async fn update(
    State(incidents): State<Arc<Incidents>>,
    Path(id): Path<i64>,
    viewer: Option<Extension<Viewer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let asked = match IncidentInput::read(&headers, &body) {
        Ok(asked) => asked,
        Err(why) => return answer(&headers, Err(IncidentError::Invalid(why)), StatusCode::OK),
    };
    let by = author(viewer);
    let done = match asked.status() {
        Ok(status) => {
            blocking(move || incidents.update(id, status, &asked.message, &by, now())).await
        }
        Err(why) => Err(IncidentError::Invalid(why)),
    };
    answer(&headers, done, StatusCode::OK)
}

/// What either write was sent, from JSON or a form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentInput {
    #[serde(default)]
    title: String,
    #[serde(default)]
    message: String,
    status: Option<String>,
    #[serde(default)]
    checks: Vec<String>,
}

impl IncidentInput {
    fn read(headers: &HeaderMap, body: &[u8]) -> Result<IncidentInput, String> {
        if is_form(headers) {
            return Ok(IncidentInput::from_form(body));
        }
        serde_json::from_slice(body).map_err(|e| {
            format!("the body is not the JSON this takes ({e}); see README, Incidents")
        })
    }

    /// A form's fields; `checks` may repeat or list names with commas.
    fn from_form(body: &[u8]) -> IncidentInput {
        let mut asked = IncidentInput::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "title" => asked.title = value.into_owned(),
                "message" => asked.message = value.into_owned(),
                "status" => asked.status = Some(value.into_owned()),
                "checks" => asked.checks.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(String::from),
                ),
                _ => {}
            }
        }
        asked
    }

    fn status(&self) -> Result<IncidentStatus, String> {
        let text = self.status.as_deref().unwrap_or("investigating");
        IncidentStatus::parse(text).ok_or_else(|| {
            format!(
                "`{text}` is not a status; it is investigating, identified, monitoring or resolved"
            )
        })
    }

    /// The checks named, by id or name, as the hub knows them now.
    fn opening(self, hub: &Hub) -> Result<Opening, String> {
        let status = self.status()?;
        let known = hub.snapshot().checks;
        let checks = self
            .checks
            .iter()
            .map(|asked| {
                known
                    .iter()
                    .find(|c| c.id.0 == *asked || c.name == *asked)
                    .map(|c| c.id.clone())
                    .ok_or_else(|| format!("no check is named `{asked}`"))
            })
            .collect::<Result<Vec<CheckId>, String>>()?;
        Ok(Opening {
            title: self.title,
            status,
            message: self.message,
            checks,
        })
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// A browser's form post (it accepts HTML) is sent back to the dashboard,
/// where the incident now shows; a script gets the incident as JSON, or
/// why not with a status that says so.
fn answer(
    headers: &HeaderMap,
    done: Result<crate::status::Incident, IncidentError>,
    success: StatusCode,
) -> Response {
    let from_a_page = crate::access::web::from_a_page(headers);
    match done {
        Ok(_) if from_a_page => Redirect::to("/#incidents").into_response(),
        Ok(incident) => (success, axum::Json(incident)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The text, with the status that says what went wrong.
impl IntoResponse for IncidentError {
    fn into_response(self) -> Response {
        let status = match &self {
            IncidentError::Invalid(_) => StatusCode::BAD_REQUEST,
            IncidentError::NotFound(_) => StatusCode::NOT_FOUND,
            IncidentError::TooMany(_) => StatusCode::CONFLICT,
            IncidentError::TooSoon => StatusCode::TOO_MANY_REQUESTS,
            IncidentError::Failed(_) | IncidentError::Unreadable(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, self.to_string()).into_response()
    }
}

fn author(viewer: Option<Extension<Viewer>>) -> String {
    crate::access::web::author(viewer.as_ref().map(|Extension(v)| v))
}

fn now() -> u64 {
    crate::clock::unix_millis()
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IncidentError> + Send + 'static,
) -> Result<T, IncidentError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(IncidentError::Failed(e.to_string())))
}
