//! The OpenAPI document of a service, generated from the code that serves it.
//!
//! A service registers its handlers through `utoipa_actix_web`'s `service(...)`, so a route is
//! documented by the same call that routes it, from its `#[utoipa::path]` and the schemas its
//! request and response types derive. [`document`] adds what every service shares, once:
//!
//! - the endpoints of [`super::health`] and `GET /openapi.json`;
//! - the answers the platform itself gives on any service endpoint: a malformed path or query
//!   (400), a body of the wrong media type, size or syntax (415, 413, 400, 422), the database
//!   unavailable (503 with `Retry-After`) or failing otherwise (500);
//! - the problem+json body of every error answer, so a handler only names the status.
//!
//! The document is also the routing table of last resort: a request no route took, on a path
//! the document has, names a method the path does not serve, and [`unmatched`] answers 405 with
//! `Allow` (actix-web would say 404, its resources being one per method).

use super::{FieldError, Problem};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use utoipa::openapi::{
    header::HeaderBuilder,
    path::{Operation, ParameterIn},
    ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::OpenApi as _;

const PROBLEM_JSON: &str = "application/problem+json";

/// The shared endpoints and schemas.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(super::health::live, super::health::ready, super::health::metrics, openapi_json),
    components(schemas(Problem, FieldError)),
    tags((name = "operations", description = "Health, metrics and this document, the same in every service"))
)]
struct Shared;

/// The served document, and the methods of each of its paths.
pub struct Document {
    json: String,
    paths: Vec<(Vec<Segment>, Vec<String>)>,
}

enum Segment {
    Literal(String),
    Parameter,
}

/// `service`'s document (its `info` and its own paths, as collected by `utoipa_actix_web`)
/// completed with the shared answers and endpoints.
pub fn document(mut service: OpenApi) -> Document {
    for item in service.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            shared_answers(operation);
        }
    }
    service.merge(Shared::openapi());
    for item in service.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response {
                    if status.as_str() >= "400" && response.content.is_empty() {
                        problem_body(response);
                    }
                }
            }
        }
    }
    let paths = service
        .paths
        .paths
        .iter_mut()
        .map(|(path, item)| {
            let segments = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        Segment::Parameter
                    } else {
                        Segment::Literal(s.to_owned())
                    }
                })
                .collect();
            let methods = operations(item)
                .map(|(method, _)| method.to_owned())
                .collect();
            (segments, methods)
        })
        .collect();
    Document {
        json: service.to_json().expect("an OpenAPI document serializes"),
        paths,
    }
}

/// The operations of a path, with their method's name.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("OPTIONS", &mut item.options),
        ("HEAD", &mut item.head),
        ("PATCH", &mut item.patch),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
}

/// Adds `status` unless the operation documents it already (with a more precise reason).
fn answer(operation: &mut Operation, status: &str, response: impl Into<RefOr<Response>>) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| response.into());
}

/// What the platform answers on any service endpoint, by what the endpoint takes.
fn shared_answers(operation: &mut Operation) {
    let takes = |place: fn(&ParameterIn) -> bool| {
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        parameters.iter().any(|p| place(&p.parameter_in))
    };
    let (path, query) = (
        takes(|p| matches!(p, ParameterIn::Path)),
        takes(|p| matches!(p, ParameterIn::Query)),
    );
    if path {
        answer(
            operation,
            "400",
            Response::new("A path parameter is malformed"),
        );
    }
    if query {
        answer(
            operation,
            "400",
            Response::new("The query string is malformed"),
        );
    }
    if operation.request_body.is_some() {
        answer(operation, "400", Response::new("The body is not JSON"));
        answer(
            operation,
            "413",
            Response::new(format!(
                "The body is larger than {} bytes",
                super::MAX_BODY_BYTES
            )),
        );
        answer(
            operation,
            "415",
            Response::new("The body is not `application/json`"),
        );
        answer(
            operation,
            "422",
            Response::new("The body is JSON of the wrong shape; `errors` names each field"),
        );
    }
    answer(
        operation,
        "500",
        Response::new("The request failed for a reason the client cannot fix"),
    );
    answer(
        operation,
        "503",
        ResponseBuilder::new()
            .description("The database is unavailable; retry after `Retry-After` seconds")
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0)),
                    )
                    .description(Some("Seconds to wait before a retry"))
                    .build(),
            )
            .build(),
    );
}

/// Error answers carry a problem (unless documented otherwise, as readiness's 503 is).
fn problem_body(response: &mut Response) {
    response.content.insert(
        PROBLEM_JSON.to_owned(),
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
}

/// `GET /openapi.json`, this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = OK, description = "This service's OpenAPI document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.json.clone())
}

/// The answer to a request no route took: 405 with `Allow` on a path of the document, 404
/// elsewhere.
pub(crate) async fn unmatched(request: HttpRequest, doc: web::Data<Document>) -> HttpResponse {
    use actix_web::ResponseError as _;
    let segments: Vec<&str> = request.path().split('/').collect();
    let allowed = doc.paths.iter().find(|(template, _)| {
        template.len() == segments.len()
            && template.iter().zip(&segments).all(|(t, s)| match t {
                Segment::Literal(l) => l == s,
                Segment::Parameter => !s.is_empty(),
            })
    });
    match allowed {
        Some((_, methods)) => {
            let allow = methods.join(", ");
            let mut response = Problem::new(
                actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                format!("{} is not served here; use {allow}", request.method()),
            )
            .error_response();
            response.headers_mut().insert(
                header::ALLOW,
                header::HeaderValue::from_str(&allow).expect("method names are header values"),
            );
            response
        }
        None => Problem::not_found("no such resource").error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_endpoints_and_answers_are_documented() {
        let doc = document(utoipa::openapi::OpenApiBuilder::new().build());
        let json: serde_json::Value = serde_json::from_str(&doc.json).unwrap();
        for path in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] {
            assert!(json["paths"][path]["get"].is_object(), "{path}");
        }
        assert!(json["components"]["schemas"]["Problem"].is_object());
    }
}
