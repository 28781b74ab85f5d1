//! Who is calling: the bearer token of a request, checked against the configured tokens.
//!
//! Every `/v1` route needs a token (`Authorization: Bearer <secret>`). A `member` token may
//! record events as the node's member and read; a `read` token may only read. Tokens are
//! compared by their SHA-256 in constant time ([`crate::config::Config::token`]). With
//! `limits.api_rate_per_minute`, a token over its rate is refused with `429`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::ApiState;
use super::problem::ApiError;
use crate::config::TokenScope;

/// A caller with a valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name (for logs).
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
}

impl Caller {
    /// Refuses callers that may not write as the node's member.
    pub fn require_member(&self) -> Result<(), ApiError> {
        match self.scope {
            TokenScope::Member => Ok(()),
            TokenScope::Read { .. } => Err(ApiError::forbidden(format!(
                "token {:?} may read but not record events",
                self.name
            ))),
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "this request needs an API token: send `Authorization: Bearer <token>`",
            ));
        };
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, secret) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
            })
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let token = state
            .config()
            .token(secret)
            .ok_or_else(|| ApiError::unauthorized("the API token is not one this node knows"))?;
        state.shedding().take_token_rate(&token.name)?;
        Ok(Caller {
            name: token.name.clone(),
            scope: token.scope.clone(),
        })
    }
}
