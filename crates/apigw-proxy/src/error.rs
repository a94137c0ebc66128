//! Data-plane errors and their APIG codes (`guide-published_api_calling_error_codes.rst`), in
//! one place. The body is `{"error_code", "error_msg", "request_id"}` (SPEC §4).

use crate::answer::Answer;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use http_body_util::{Either, Full};

/// The body of a request to a backend: the client's stream (cut at [`MAX_BODY_BYTES`]), or
/// bytes read already.
pub type Body = Either<http_body_util::Limited<crate::server::RequestBody>, Full<Bytes>>;

/// The body of every data-plane response: the backend's stream, or bytes made here.
pub type ResponseBody = Either<crate::upstream::DrivenBody, Full<Bytes>>;

/// Why the gateway answered instead of the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayError {
    /// No published API matches host, stage, method and path.
    NoApi,
    /// The API is published for HTTP only and was called over HTTPS.
    HttpOnly,
    /// The API is published for HTTPS only and was called over plain HTTP.
    HttpsOnly,
    /// A gRPC API called other than by HTTP/2 over TLS.
    GrpcsOnly,
    /// The body is larger than [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The body could not be read from the client.
    BadBody,
    /// The request URI is longer than [`MAX_URI_BYTES`].
    UriTooLong,
    /// One header is longer than [`MAX_HEADER_BYTES`], or all of them than [`MAX_HEADERS_BYTES`].
    HeadersTooLarge,
    /// The client did not send its body within the client timeout.
    ClientTimeout,
    /// The gateway holds as many client connections as it may.
    TooManyConnections,
    /// The backend refused the connection or failed.
    BackendUnavailable,
    /// The backend did not answer within the API's timeout.
    BackendTimeout,
    /// No member of the API's load balance channel is in rotation.
    NoHealthyMember,
    /// IAM authentication failed.
    IamAuth,
    /// APP authentication failed.
    AppAuth,
    /// The app is not authorised for this API in this environment.
    AppNotAuthorized,
    /// An IP access control policy refused the client IP.
    IpDenied,
    /// An account access control policy refused the IAM caller.
    AccountDenied,
    /// A rate_limit plug-in refused the call.
    Throttled,
    /// A breaker is open and no downgrade is configured.
    BreakerOpen,
    /// third_auth: the auth service refused the call.
    ThirdAuthFailed,
    /// third_auth: an essential identity is missing.
    IdentityMissing,
    /// third_auth: the client IP failed too often.
    AuthForbidden,
    /// third_auth: the auth service is unreachable, timed out or failed.
    AuthServiceError,
}

/// Largest request body (APIG's limit).
pub const MAX_BODY_BYTES: usize = 12 * 1024 * 1024;
/// Longest request URI (APIG's limit).
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// Longest single request header, name and value (APIG's limit).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Largest request head: all headers together (APIG's limit).
pub const MAX_HEADERS_BYTES: usize = 128 * 1024;

impl GatewayError {
    /// Status, code and message.
    pub fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use GatewayError::*;
        match self {
            NoApi => (
                StatusCode::NOT_FOUND,
                "APIG.0101",
                "The API does not exist or has not been published in the environment",
            ),
            HttpOnly => (
                StatusCode::BAD_REQUEST,
                "APIG.0607",
                "The following protocol is supported: HTTP",
            ),
            HttpsOnly => (
                StatusCode::BAD_REQUEST,
                "APIG.0607",
                "The following protocol is supported: HTTPS",
            ),
            GrpcsOnly => (
                StatusCode::BAD_REQUEST,
                "APIG.0607",
                "The following protocol is supported: GRPCS",
            ),
            BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "APIG.0201",
                "Request entity too large",
            ),
            BadBody => (StatusCode::BAD_REQUEST, "APIG.0201", "API request error"),
            UriTooLong => (
                StatusCode::URI_TOO_LONG,
                "APIG.0201",
                "Request URI too large",
            ),
            HeadersTooLarge => (
                StatusCode::from_u16(494).unwrap_or(StatusCode::BAD_REQUEST),
                "APIG.0201",
                "Request headers too large",
            ),
            ClientTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "APIG.0201",
                "Request timeout: the body was not received in time",
            ),
            TooManyConnections => (
                StatusCode::SERVICE_UNAVAILABLE,
                "APIG.0201",
                "Too many connections",
            ),
            BackendUnavailable => (StatusCode::BAD_GATEWAY, "APIG.0201", "Backend unavailable"),
            BackendTimeout => (StatusCode::GATEWAY_TIMEOUT, "APIG.0201", "Backend timeout"),
            NoHealthyMember => (StatusCode::BAD_GATEWAY, "APIG.0202", "Backend unavailable"),
            IamAuth => (
                StatusCode::UNAUTHORIZED,
                "APIG.0301",
                "Incorrect IAM authentication information",
            ),
            AppAuth => (
                StatusCode::UNAUTHORIZED,
                "APIG.0303",
                "Incorrect app authentication information",
            ),
            AppNotAuthorized => (
                StatusCode::FORBIDDEN,
                "APIG.0304",
                "The app is not authorized to access the API",
            ),
            IpDenied => (
                StatusCode::FORBIDDEN,
                "APIG.0402",
                "The IP address is not authorized to access the API",
            ),
            AccountDenied => (
                StatusCode::FORBIDDEN,
                "APIG.0302",
                "The IAM user is not authorized to access the API",
            ),
            ThirdAuthFailed => (
                StatusCode::UNAUTHORIZED,
                "APIG.0312",
                "Incorrect third-party authentication information,auth fail",
            ),
            IdentityMissing => (
                StatusCode::UNAUTHORIZED,
                "APIG.0313",
                "Incorrect third-party authentication information,identities error",
            ),
            AuthForbidden => (
                StatusCode::FORBIDDEN,
                "APIG.0314",
                "Incorrect third-party authentication information,access deny",
            ),
            AuthServiceError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "APIG.0617",
                "Incorrect third-party authentication response information",
            ),
            BreakerOpen => (
                StatusCode::SERVICE_UNAVAILABLE,
                "APIG.0202",
                "Backend unavailable: the circuit breaker is open",
            ),
            Throttled => (
                StatusCode::TOO_MANY_REQUESTS,
                "APIG.0308",
                "The throttling threshold has been reached",
            ),
        }
    }

    /// The error type of a gateway response set (`otc-guide/creating_a_gateway_response.rst`,
    /// Table 1) this error is answered through. Errors found before routing (head too large,
    /// too many connections) have no route, and so no set: they always answer APIG's JSON.
    pub fn response_type(self) -> &'static str {
        use GatewayError::*;
        match self {
            NoApi => "NOT_FOUND",
            BadBody => "REQUEST_PARAMETERS_FAILURE",
            BodyTooLarge | UriTooLong | HeadersTooLarge | ClientTimeout | HttpOnly | HttpsOnly
            | GrpcsOnly => "DEFAULT_4XX",
            TooManyConnections | BreakerOpen => "DEFAULT_5XX",
            BackendUnavailable | NoHealthyMember => "BACKEND_UNAVAILABLE",
            BackendTimeout => "BACKEND_TIMEOUT",
            IamAuth | AppAuth => "AUTH_FAILURE",
            AppNotAuthorized => "UNAUTHORIZED",
            IpDenied | AccountDenied | AuthForbidden => "ACCESS_DENIED",
            Throttled => "THROTTLED",
            ThirdAuthFailed => "THIRD_AUTH_FAILURE",
            IdentityMissing => "THIRD_AUTH_IDENTITIES_FAILURE",
            AuthServiceError => "THIRD_AUTH_CONF_FAILURE",
        }
    }

    /// The answer under a route's response set (`None`: nothing customised, APIG's JSON).
    pub fn answer(
        self,
        set: Option<&crate::responses::Responses>,
        ctx: &apigw_plugins::chain::RequestCtx,
    ) -> Answer<ResponseBody> {
        match set {
            None => self.response(&ctx.request_id),
            Some(set) => set.answer(self, ctx),
        }
    }

    /// The error's response (without `X-Request-Id`, which every response gets later).
    pub fn response(self, request_id: &str) -> Answer<ResponseBody> {
        let (status, code, msg) = self.parts();
        let body =
            serde_json::json!({"error_code": code, "error_msg": msg, "request_id": request_id});
        let mut resp = Answer::new(
            status,
            Either::Right(Full::new(Bytes::from(body.to_string()))),
        );
        resp.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}
