//! The operations: OCI distribution, ACR metadata and the token service.

mod authorize;
mod blobs;
mod catalog;
mod manifests;
mod metadata;
mod paging;
mod token;
mod uploads;

use http::Method;
use serde_json::json;

use crate::http::{Resp, page_not_found, unsupported};
use crate::routes::Route;
use crate::server::Shared;

pub(crate) use authorize::{Caller, authorize};
use blobs::{delete_blob, get_blob};
use catalog::{tags_list, v2_catalog};
use manifests::{delete_manifest, get_manifest, put_manifest, referrers};
use metadata::{
    acr_catalog, acr_delete_repo, acr_delete_tag, acr_manifest, acr_manifests, acr_repo, acr_tag,
    acr_tags,
};
use token::{exchange, token};
use uploads::{cancel_upload, finish_upload, patch_upload, start_upload, upload_status};

/// Dispatches an authorised request.
pub(crate) fn handle(
    shared: &Shared,
    route: Route,
    req: &crate::http::Req,
    caller: &Caller,
) -> Resp {
    let m = &req.method;
    let head = m == Method::HEAD;
    match route {
        Route::NotFound => page_not_found(),
        Route::Exchange if m == Method::POST => exchange(shared, req),
        Route::Token if m == Method::POST || m == Method::GET => token(shared, req),
        Route::V2Base if m == Method::GET || head => Resp::json(200, &json!({})),
        Route::V2Catalog if m == Method::GET => v2_catalog(shared, req),
        Route::TagsList(name) if m == Method::GET => tags_list(shared, req, &name),
        Route::Manifest(name, reference) => match *m {
            Method::GET | Method::HEAD => get_manifest(shared, &name, &reference, head),
            Method::PUT => put_manifest(shared, req, &name, &reference),
            Method::DELETE => delete_manifest(shared, &name, &reference),
            _ => unsupported(),
        },
        Route::Blob(name, digest) => match *m {
            Method::GET | Method::HEAD => get_blob(shared, req, &name, &digest, head),
            Method::DELETE => delete_blob(shared, &name, &digest),
            _ => unsupported(),
        },
        Route::UploadStart(name) if m == Method::POST => start_upload(shared, req, &name, caller),
        Route::Upload(name, id) => match *m {
            Method::PATCH => patch_upload(shared, req, &name, &id),
            Method::PUT => finish_upload(shared, req, &name, &id),
            Method::GET => upload_status(shared, &name, &id),
            Method::DELETE => cancel_upload(shared, &name, &id),
            _ => unsupported(),
        },
        Route::Referrers(name, digest) if m == Method::GET => {
            referrers(shared, req, &name, &digest)
        }
        Route::AcrCatalog if m == Method::GET => acr_catalog(shared, req),
        Route::AcrRepo(name) => match *m {
            Method::GET => acr_repo(shared, &name, None),
            Method::PATCH => acr_repo(shared, &name, Some(&req.body)),
            Method::DELETE => acr_delete_repo(shared, &name),
            _ => unsupported(),
        },
        Route::AcrTags(name) if m == Method::GET => acr_tags(shared, req, &name),
        Route::AcrTag(name, tag) => match *m {
            Method::GET => acr_tag(shared, &name, &tag, None),
            Method::PATCH => acr_tag(shared, &name, &tag, Some(&req.body)),
            Method::DELETE => acr_delete_tag(shared, &name, &tag),
            _ => unsupported(),
        },
        Route::AcrManifests(name) if m == Method::GET => acr_manifests(shared, req, &name),
        Route::AcrManifest(name, reference) => match *m {
            Method::GET => acr_manifest(shared, &name, &reference, None),
            Method::PATCH => acr_manifest(shared, &name, &reference, Some(&req.body)),
            _ => unsupported(),
        },
        _ => unsupported(),
    }
}
