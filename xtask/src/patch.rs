//! The patch step: small named fixes applied, in order, to the converted OpenAPI 3.0.3
//! document before progenitor reads it.
//!
//! Each patch names the spec defect (`D…`, catalogued in `spec/DEFECTS.md` with the official
//! SDKs' AutoRest directives for it) or the progenitor limitation it works around. A patch that finds nothing to
//! fix fails, so a new upstream version that repairs a defect is noticed and its patch
//! removed instead of silently doing nothing.

use serde_json::{Map, Value, json};

use crate::operations::{self, Fate};

/// A patch: a name for the logs and the function that applies it.
pub(crate) type Patch = (&'static str, fn(&mut Value) -> Result<(), String>);

/// Every patch, in application order.
pub(crate) const PATCHES: &[Patch] = &[
    ("drop_security", drop_security),
    ("require_api_version", require_api_version),
    ("merge_x_ms_paths_overloads", merge_x_ms_paths_overloads),
    (
        "exclude_handwritten_operations",
        exclude_handwritten_operations,
    ),
    ("errors_default_to_4xx_5xx", errors_default_to_4xx_5xx),
    ("drop_bodyless_404s", drop_bodyless_404s),
    ("head_errors_without_body", head_errors_without_body),
    ("acr_error_detail_untyped", acr_error_detail_untyped),
    ("drop_followed_redirects", drop_followed_redirects),
    ("manifest_get_as_bytes", manifest_get_as_bytes),
    ("manifest_put_as_bytes", manifest_put_as_bytes),
    (
        "manifest_put_content_type_header",
        manifest_put_content_type_header,
    ),
    ("drop_empty_success_schemas", drop_empty_success_schemas),
    ("drop_deleted_repository_body", drop_deleted_repository_body),
    ("anonymous_token_request", anonymous_token_request),
    ("open_enums", open_enums),
    ("add_manifest_media_type", add_manifest_media_type),
    ("tolerate_sparse_payloads", tolerate_sparse_payloads),
    ("optional_tag_list_envelope", optional_tag_list_envelope),
    ("rename_operation_ids", rename_operation_ids),
    ("add_referrers_operation", add_referrers_operation),
    ("add_oci_listing_operations", add_oci_listing_operations),
    ("add_manifest_head_operation", add_manifest_head_operation),
    ("prune_unreferenced_schemas", prune_unreferenced_schemas),
];

/// Applies every patch in order, naming the one that failed.
pub(crate) fn apply_all(doc: &mut Value) -> Result<(), String> {
    for (name, patch) in PATCHES {
        patch(doc).map_err(|e| format!("patch `{name}`: {e}"))?;
    }
    Ok(())
}

/// The manifest media types a registry serves from `GET /v2/{name}/manifests/{reference}`.
const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

// D3: the global requirement demands Basic *and* an API key together, and the "oauth2"
// scheme is declared as an API key header. The real scheme is the Docker token challenge,
// which the `acr` crate implements; progenitor ignores security either way.
fn drop_security(doc: &mut Value) -> Result<(), String> {
    let root = object(doc)?;
    let mut found = root.remove("security").is_some();
    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        found |= components.remove("securitySchemes").is_some();
    }
    for (_, op) in operations_mut(doc)? {
        found |= op.remove("security").is_some();
    }
    found
        .then_some(())
        .ok_or_else(|| "no security declarations".into())
}

// D4: `api-version` is optional in the spec, so a generated client would send none unless
// every caller remembered it. Required, it becomes a setter that `send()` checks. The three
// listings keep it optional: the service's next-page links carry none, so every page of a
// listing goes out in the same shape as the first, as the recorded sessions show.
fn require_api_version(doc: &mut Value) -> Result<(), String> {
    const LISTINGS: [&str; 3] = [
        "ContainerRegistry_GetRepositories",
        "ContainerRegistry_GetTags",
        "ContainerRegistry_GetManifests",
    ];
    let mut count = 0;
    for (_, op) in operations_mut(doc)? {
        if LISTINGS.iter().any(|id| op["operationId"] == *id) {
            continue;
        }
        for p in op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if p["name"] == "api-version" && p["in"] == "query" {
                p["required"] = json!(true);
                count += 1;
            }
        }
    }
    (count > 0)
        .then_some(())
        .ok_or_else(|| "no api-version parameter".into())
}

// D2: `x-ms-paths` overloads a path and method with a `?mode=…` suffix, which OpenAPI 3
// cannot express and which is no parameter of the registry protocol. Each overload is
// folded into its twin: the upload start into the mount POST (a POST without `from` and
// `mount` opens an upload session and answers 202), the chunk reads into the blob GET and
// HEAD (an optional `Range` header, answered by a 206).
fn merge_x_ms_paths_overloads(doc: &mut Value) -> Result<(), String> {
    let start = take_operation(doc, "ContainerRegistryBlob_StartUpload")?;
    let chunk = take_operation(doc, "ContainerRegistryBlob_GetChunk")?;
    let check_chunk = take_operation(doc, "ContainerRegistryBlob_CheckChunkExists")?;

    let mount = operation_mut(doc, "ContainerRegistryBlob_MountBlob")?;
    for p in mount
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if p["name"] == "from" || p["name"] == "mount" {
            p["required"] = json!(false);
        }
    }
    mount["responses"]["202"] = start["responses"]["202"].clone();
    mount["description"] = json!(
        "Start a blob upload session, or mount a blob identified by the `mount` parameter \
         from the repository named by `from`. A 201 means the blob was mounted; a 202 means \
         an upload session was opened at `Location` (the registry answers so when it cannot \
         mount)."
    );

    let range = json!({
        "name": "Range",
        "in": "header",
        "required": false,
        "description": "HTTP Range header selecting part of the blob, as `bytes=START-END`.",
        "schema": { "type": "string" }
    });
    let get = operation_mut(doc, "ContainerRegistryBlob_GetBlob")?;
    push_parameter(get, range.clone())?;
    get["responses"]["206"] = chunk["responses"]["206"].clone();

    let head = operation_mut(doc, "ContainerRegistryBlob_CheckBlobExists")?;
    push_parameter(head, range)?;
    let mut partial = check_chunk["responses"]["200"].clone();
    partial["description"] = json!("The requested range of the blob exists.");
    head["responses"]["206"] = partial;
    Ok(())
}

// D23–D25: the upload-session operations take the server's `Location` as a path parameter;
// see `operations::OPERATIONS` for why they are written by hand.
fn exclude_handwritten_operations(doc: &mut Value) -> Result<(), String> {
    let excluded: Vec<&str> = operations::OPERATIONS
        .iter()
        .filter(|(_, fate)| matches!(fate, Fate::Excluded { .. }))
        .map(|(id, _)| *id)
        .collect();
    for id in excluded {
        take_operation(doc, id)?;
    }
    Ok(())
}

// D37, progenitor: a `default` response counts as both a success and an error type, and
// more than one type on either side trips `assert!(response_types.len() <= 1)`. The error
// body is always ACR's JSON envelope, even where the operation `produces` octet-stream.
fn errors_default_to_4xx_5xx(doc: &mut Value) -> Result<(), String> {
    let mut count = 0;
    for (_, op) in operations_mut(doc)? {
        let responses = op["responses"]
            .as_object_mut()
            .ok_or("responses are not an object")?;
        if let Some(default) = responses.remove("default") {
            let mut error = default;
            error["content"] = json!({
                "application/json": { "schema": { "$ref": "#/components/schemas/AcrErrors" } }
            });
            responses.insert("4XX".into(), error.clone());
            responses.insert("5XX".into(), error);
            count += 1;
        }
    }
    (count > 0)
        .then_some(())
        .ok_or_else(|| "no default responses".into())
}

// D17, progenitor: a body-less 404 beside the JSON 4XX is a second error type (an assert
// panic in the generator), and it would make "not found" look like success. Deleting a
// missing item is decided in `acr`, which sees the 404 as an error response.
fn drop_bodyless_404s(doc: &mut Value) -> Result<(), String> {
    let mut count = 0;
    for (_, op) in operations_mut(doc)? {
        let responses = op["responses"]
            .as_object_mut()
            .ok_or("responses are not an object")?;
        if responses
            .get("404")
            .is_some_and(|r| r.get("content").is_none())
        {
            responses.remove("404");
            count += 1;
        }
    }
    (count > 0)
        .then_some(())
        .ok_or_else(|| "no body-less 404".into())
}

// progenitor: a HEAD response has no body, so a typed JSON error body fails to parse and
// the status of a 404 is lost (`InvalidResponsePayload`). Without content the error type is
// `()` and the status survives.
fn head_errors_without_body(doc: &mut Value) -> Result<(), String> {
    let mut count = 0;
    for (method, op) in operations_mut(doc)? {
        if method != "head" {
            continue;
        }
        for code in ["4XX", "5XX"] {
            if let Some(r) = op["responses"].get_mut(code).and_then(Value::as_object_mut) {
                count += usize::from(r.remove("content").is_some());
            }
        }
    }
    (count > 0)
        .then_some(())
        .ok_or_else(|| "no HEAD error bodies".into())
}

// D37: `AcrErrorInfo.detail` is typed `object`, but the service sends an array (for example
// the scopes a 401 lacked), which would fail the whole error body.
fn acr_error_detail_untyped(doc: &mut Value) -> Result<(), String> {
    let detail = doc
        .pointer_mut("/components/schemas/AcrErrorInfo/properties/detail")
        .ok_or("AcrErrorInfo.detail is missing")?;
    *detail = json!({ "description": "Error details: any JSON value." });
    Ok(())
}

// D20: the blob GET and HEAD list a 307 to storage as a normal response. The HTTP client
// follows it (and drops `Authorization` across hosts), so it never reaches generated code.
fn drop_followed_redirects(doc: &mut Value) -> Result<(), String> {
    let mut count = 0;
    for (_, op) in operations_mut(doc)? {
        let responses = op["responses"]
            .as_object_mut()
            .ok_or("responses are not an object")?;
        count += usize::from(responses.remove("307").is_some());
    }
    (count > 0)
        .then_some(())
        .ok_or_else(|| "no 307 responses".into())
}

// D12, progenitor: the manifest GET is typed as the JSON union `ManifestWrapper`; parsing
// and re-serialising loses the exact bytes and with them the digest. Declared as the vendor
// media types, the response is a raw byte stream that `acr` caps and hashes. The `accept`
// parameter stays: it is how the caller's `Accept` list is sent.
fn manifest_get_as_bytes(doc: &mut Value) -> Result<(), String> {
    let op = operation_mut(doc, "ContainerRegistry_GetManifest")?;
    let ok = op["responses"].get_mut("200").ok_or("no 200 response")?;
    let binary = json!({ "schema": { "type": "string", "format": "binary" } });
    let content: Map<_, _> = MANIFEST_MEDIA_TYPES
        .iter()
        .map(|m| (m.to_string(), binary.clone()))
        .collect();
    ok["content"] = Value::Object(content);
    Ok(())
}

// D15, progenitor: the PUT body is the JSON model `Manifest` under one Docker media type;
// progenitor accepts no vendor request type, and the digest needs the caller's exact bytes.
fn manifest_put_as_bytes(doc: &mut Value) -> Result<(), String> {
    let op = operation_mut(doc, "ContainerRegistry_CreateManifest")?;
    let body = op.get_mut("requestBody").ok_or("no request body")?;
    body["content"] = json!({
        "application/octet-stream": { "schema": { "type": "string", "format": "binary" } }
    });
    Ok(())
}

// D15: with an octet-stream body, progenitor would label every manifest
// `application/octet-stream`. A `Content-Type` header parameter is applied after the body's
// own content type and replaces it, so the caller names the manifest's real media type.
fn manifest_put_content_type_header(doc: &mut Value) -> Result<(), String> {
    let op = operation_mut(doc, "ContainerRegistry_CreateManifest")?;
    push_parameter(
        op,
        json!({
            "name": "Content-Type",
            "in": "header",
            "required": true,
            "description": "The media type of the manifest, which the registry stores with it.",
            "schema": { "type": "string" }
        }),
    )
}

// D16, D21: the manifest PUT's 201 declares `schema: {}` and the blob DELETE's 202 a file,
// where the service sends no body. A generated client would try to parse the empty 201 as
// JSON and report a stored manifest as a failure.
fn drop_empty_success_schemas(doc: &mut Value) -> Result<(), String> {
    drop_response_content(doc, "ContainerRegistry_CreateManifest", "201")?;
    drop_response_content(doc, "ContainerRegistryBlob_DeleteBlob", "202")
}

// D35: the 202 of a repository DELETE declares the lists of deleted manifests and tags.
// The service sends them, but its own example answers with no body at all, which a typed
// body would refuse; every official SDK drops the schema and returns nothing.
fn drop_deleted_repository_body(doc: &mut Value) -> Result<(), String> {
    drop_response_content(doc, "ContainerRegistry_DeleteRepository", "202")
}

/// Removes the body declaration of one response of operation `id`; an error if it has none.
fn drop_response_content(doc: &mut Value, id: &str, code: &str) -> Result<(), String> {
    let op = operation_mut(doc, id)?;
    let response = op["responses"].get_mut(code).and_then(Value::as_object_mut);
    let response = response.ok_or_else(|| format!("{id}: no {code} response"))?;
    response
        .remove("content")
        .map(drop)
        .ok_or_else(|| format!("{id}: the {code} response has no content"))
}

// D10: `POST /oauth2/token` lists `grant_type=password`, the anonymous-pull grant, but
// requires a `refresh_token` that this grant does not have. The registry takes the form
// without it.
fn anonymous_token_request(doc: &mut Value) -> Result<(), String> {
    let op = operation_mut(
        doc,
        "Authentication_ExchangeAcrRefreshTokenForAcrAccessToken",
    )?;
    let schema = op
        .pointer_mut("/requestBody/content/application~1x-www-form-urlencoded/schema")
        .ok_or("no form body")?;
    let required = schema["required"]
        .as_array_mut()
        .ok_or("no required list")?;
    let before = required.len();
    required.retain(|r| r != "refresh_token");
    (required.len() < before)
        .then_some(())
        .ok_or_else(|| "refresh_token is optional".into())
}

// D30, progenitor: `x-ms-enum.modelAsString` marks an open enum, but typify emits a closed
// one, and `ArtifactArchitecture` lists `ppc641e` where the service sends `ppc64le`. One
// unknown value would fail a whole page; as plain strings every value is kept.
fn open_enums(doc: &mut Value) -> Result<(), String> {
    let schemas = schemas_mut(doc)?;
    let mut count = 0;
    for schema in schemas.values_mut() {
        let open = schema.pointer("/x-ms-enum/modelAsString") == Some(&json!(true));
        if open && let Some(s) = schema.as_object_mut() {
            count += usize::from(s.remove("enum").is_some());
        }
    }
    (count > 0)
        .then_some(())
        .ok_or_else(|| "no open enums".into())
}

// D31: the service returns `mediaType` on every manifest, which the spec does not declare.
fn add_manifest_media_type(doc: &mut Value) -> Result<(), String> {
    let props = doc
        .pointer_mut("/components/schemas/ManifestAttributesBase/properties")
        .and_then(Value::as_object_mut)
        .ok_or("ManifestAttributesBase has no properties")?;
    if props.contains_key("mediaType") {
        return Err("mediaType is declared".into());
    }
    props.insert(
        "mediaType".into(),
        json!({ "type": "string", "readOnly": true, "description": "Media type of the manifest." }),
    );
    Ok(())
}

// D33: an empty repository lists `"tags": null`, older registries omit arrays, and a
// repository can come without `changeableAttributes`. Arrays become optional and nullable
// and the attribute blocks optional, so a sparse payload parses instead of failing a page.
fn tolerate_sparse_payloads(doc: &mut Value) -> Result<(), String> {
    let mut count = 0;
    for schema in schemas_mut(doc)?.values_mut() {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let relaxed: Vec<String> = props
            .iter()
            .filter(|(name, p)| p["type"] == "array" || *name == "changeableAttributes")
            .map(|(name, _)| name.clone())
            .collect();
        for name in &relaxed {
            if schema["properties"][name]["type"] == "array" {
                schema["properties"][name]["nullable"] = json!(true);
            }
            count += 1;
        }
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|r| !relaxed.iter().any(|n| r == n.as_str()));
        }
    }
    (count > 0)
        .then_some(())
        .ok_or_else(|| "nothing to relax".into())
}

// D33: an empty or sparse tag page may omit `registry` and `imageName`, which describe the
// page and are not needed to read its tags; required, their absence would fail the page.
fn optional_tag_list_envelope(doc: &mut Value) -> Result<(), String> {
    let schema = doc
        .pointer_mut("/components/schemas/TagList")
        .and_then(Value::as_object_mut)
        .ok_or("no TagList schema")?;
    schema
        .remove("required")
        .map(drop)
        .ok_or_else(|| "TagList requires nothing".into())
}

// The spec predates the referrers API of OCI distribution 1.1, which ACR serves:
// `GET /v2/{name}/referrers/{digest}`, answered with an image index of the manifests whose
// `subject` is that digest, paged by `Link`. Added under the name of `operations::ADDED`; its
// body is bytes, capped and parsed by `acr` as it does manifests.
fn add_referrers_operation(doc: &mut Value) -> Result<(), String> {
    let errors = operation_mut(doc, "get_manifest")?["responses"].clone();
    let paths = doc["paths"].as_object_mut().ok_or("no paths")?;
    let path = "/v2/{name}/referrers/{digest}";
    if paths.contains_key(path) {
        return Err(format!("{path} is declared"));
    }
    let string = json!({ "type": "string" });
    let mut responses = json!({
        "200": {
            "description": "The referrers, as an image index.",
            "content": {
                "application/vnd.oci.image.index.v1+json": {
                    "schema": { "type": "string", "format": "binary" }
                }
            }
        }
    });
    for code in ["4XX", "5XX"] {
        responses[code] = errors
            .get(code)
            .cloned()
            .ok_or_else(|| format!("get_manifest has no {code}"))?;
    }
    paths.insert(
        path.into(),
        json!({ "get": {
            "operationId": added("list_referrers")?,
            "description": "The manifests that refer to `digest` through their `subject`.",
            "parameters": [
                { "name": "name", "in": "path", "required": true, "schema": string,
                  "description": "Name of the repository." },
                { "name": "digest", "in": "path", "required": true, "schema": string,
                  "description": "Digest of the subject manifest." },
                { "name": "artifactType", "in": "query", "required": false, "schema": string,
                  "description": "Only referrers of this artifact type." },
                { "name": "accept", "in": "header", "required": false, "schema": string,
                  "description": "The media type of the answer." }
            ],
            "responses": responses
        }}),
    );
    Ok(())
}

/// The name of an operation the patch step adds, checked against `operations::ADDED`.
fn added(name: &'static str) -> Result<&'static str, String> {
    crate::operations::ADDED
        .iter()
        .any(|(added, _)| *added == name)
        .then_some(name)
        .ok_or_else(|| format!("{name} is not listed in operations::ADDED"))
}

// The spec lists repositories and tags through ACR's `/acr/v1` metadata API only. The OCI
// distribution API has its own listings, which every registry serves, ACR included:
// `GET /v2/_catalog` and `GET /v2/{name}/tags/list`, paged by `n`, `last` and `Link`. Added
// under the names of `operations::ADDED`, so that registries without the metadata API can
// be listed through generated code too.
fn add_oci_listing_operations(doc: &mut Value) -> Result<(), String> {
    let errors = operation_mut(doc, "list_repositories")?["responses"].clone();
    let responses = |description: &str, schema: &str| -> Result<Value, String> {
        let mut responses = json!({
            "200": {
                "description": description,
                "content": { "application/json": {
                    "schema": { "$ref": format!("#/components/schemas/{schema}") }
                } }
            }
        });
        for code in ["4XX", "5XX"] {
            responses[code] = errors
                .get(code)
                .cloned()
                .ok_or_else(|| format!("list_repositories has no {code}"))?;
        }
        Ok(responses)
    };
    let integer = json!({ "type": "integer" });
    let string = json!({ "type": "string" });
    let page = json!([
        { "name": "n", "in": "query", "required": false, "schema": integer,
          "description": "How many items a page holds at most." },
        { "name": "last", "in": "query", "required": false, "schema": string,
          "description": "The last item of the page before." }
    ]);
    let mut tag_params = vec![json!({ "name": "name", "in": "path", "required": true,
        "schema": string, "description": "Name of the repository." })];
    tag_params.extend(page.as_array().cloned().unwrap_or_default());
    let catalog = json!({ "get": {
        "operationId": added("list_catalog")?,
        "description": "The repositories of the registry (OCI distribution API).",
        "parameters": page,
        "responses": responses("The repository names.", "Repositories")?
    }});
    let tags = json!({ "get": {
        "operationId": added("list_tag_names")?,
        "description": "The tags of a repository (OCI distribution API).",
        "parameters": tag_params,
        "responses": responses("The tag names.", "OciTagList")?
    }});
    schemas_mut(doc)?.insert(
        "OciTagList".into(),
        json!({
            "type": "object",
            "description": "The tags of a repository, as the OCI distribution API lists them.",
            "properties": {
                "name": { "type": "string", "description": "The repository." },
                "tags": { "type": "array", "nullable": true, "items": { "type": "string" },
                          "description": "The tags of this page." }
            }
        }),
    );
    let paths = doc["paths"].as_object_mut().ok_or("no paths")?;
    for (path, item) in [("/v2/_catalog", catalog), ("/v2/{name}/tags/list", tags)] {
        if paths.insert(path.into(), item).is_some() {
            return Err(format!("{path} is declared"));
        }
    }
    Ok(())
}

// The spec has no `HEAD` of a manifest, with which the OCI distribution API tells the
// digest a tag points to (`Docker-Content-Digest`) without the manifest: what a registry
// without ACR's metadata API answers instead of a tag's properties. Bodiless, like every
// `HEAD`, errors included.
fn add_manifest_head_operation(doc: &mut Value) -> Result<(), String> {
    let head = operation_mut(doc, "check_blob_exists")?.clone();
    let string = json!({ "type": "string" });
    let mut responses = json!({
        "200": {
            "description": "The manifest exists; `Docker-Content-Digest` names it.",
            "headers": head["responses"]["200"]["headers"].clone()
        }
    });
    for code in ["4XX", "5XX"] {
        responses[code] = head["responses"]
            .get(code)
            .cloned()
            .ok_or_else(|| format!("check_blob_exists has no {code}"))?;
    }
    let item = doc
        .pointer_mut("/paths/~1v2~1{name}~1manifests~1{reference}")
        .and_then(Value::as_object_mut)
        .ok_or("no manifest path")?;
    if item.contains_key("head") {
        return Err("the manifest path has a HEAD".into());
    }
    item.insert(
        "head".into(),
        json!({
            "operationId": added("check_manifest_exists")?,
            "description": "Same as GET of a manifest, with the headers only.",
            "parameters": [
                { "name": "name", "in": "path", "required": true, "schema": string,
                  "description": "Name of the repository." },
                { "name": "reference", "in": "path", "required": true, "schema": string,
                  "description": "A tag or a digest." },
                { "name": "accept", "in": "header", "required": false, "schema": string,
                  "description": "The manifest media types asked for." }
            ],
            "responses": responses
        }),
    );
    Ok(())
}

// D6: operationIds such as `ContainerRegistry_GetProperties` would become
// `container_registry_get_properties()`. Each gets its name from `operations::OPERATIONS`;
// an operation the table does not know stops the regeneration.
fn rename_operation_ids(doc: &mut Value) -> Result<(), String> {
    for (_, op) in operations_mut(doc)? {
        let id = op["operationId"]
            .as_str()
            .ok_or("an operation has no operationId")?;
        match operations::fate(id) {
            Some(Fate::Generated(name)) => op["operationId"] = json!(name),
            Some(fate) => return Err(format!("{id} is still present but is {fate:?}")),
            None => {
                return Err(format!(
                    "{id} is a new upstream operation: give it a fate in xtask/src/operations.rs"
                ));
            }
        }
    }
    Ok(())
}

// D7: a third of the definitions (manifest unions, order-by enums, signatures) are reachable
// from no operation once the manifest bodies are bytes; progenitor would still emit a type
// for each of them.
fn prune_unreferenced_schemas(doc: &mut Value) -> Result<(), String> {
    let schemas = schemas_mut(doc)?.clone();
    let mut reachable = std::collections::BTreeSet::new();
    let mut pending: Vec<String> = Vec::new();
    collect_refs(&doc["paths"], &mut pending);
    while let Some(name) = pending.pop() {
        if reachable.insert(name.clone()) {
            let schema = schemas
                .get(&name)
                .ok_or_else(|| format!("dangling $ref to {name}"))?;
            collect_refs(schema, &mut pending);
        }
    }
    let all = schemas_mut(doc)?;
    let before = all.len();
    all.retain(|name, _| reachable.contains(name));
    (all.len() < before)
        .then_some(())
        .ok_or_else(|| "every schema is referenced".into())
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref"
                    && let Some(name) = value
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_owned());
                } else {
                    collect_refs(value, out);
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn object(doc: &mut Value) -> Result<&mut Map<String, Value>, String> {
    doc.as_object_mut()
        .ok_or_else(|| "the document is not an object".into())
}

fn schemas_mut(doc: &mut Value) -> Result<&mut Map<String, Value>, String> {
    doc.pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "no components.schemas".into())
}

/// An operation of the document and its HTTP method.
type MethodAndOperation<'d> = (String, &'d mut Map<String, Value>);

/// Every operation of the document with its HTTP method.
fn operations_mut(doc: &mut Value) -> Result<Vec<MethodAndOperation<'_>>, String> {
    let paths = doc["paths"].as_object_mut().ok_or("no paths")?;
    let mut out = Vec::new();
    for item in paths.values_mut() {
        for (method, op) in item.as_object_mut().ok_or("a path item is not an object")? {
            if let Some(op) = op.as_object_mut().filter(|op| op.contains_key("responses")) {
                out.push((method.clone(), op));
            }
        }
    }
    Ok(out)
}

fn operation_mut<'d>(doc: &'d mut Value, id: &str) -> Result<&'d mut Value, String> {
    let paths = doc["paths"].as_object_mut().ok_or("no paths")?;
    paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|op| op["operationId"] == id)
        .ok_or_else(|| format!("operation {id} not found"))
}

/// Removes an operation, and its path when no other operation is left on it.
fn take_operation(doc: &mut Value, id: &str) -> Result<Value, String> {
    let paths = doc["paths"].as_object_mut().ok_or("no paths")?;
    let mut taken = None;
    paths.retain(|_, item| {
        let Some(item) = item.as_object_mut() else {
            return true;
        };
        if taken.is_none()
            && let Some(method) = item
                .iter()
                .find(|(_, op)| op["operationId"] == id)
                .map(|(m, _)| m.clone())
        {
            taken = item.remove(&method);
        }
        item.values().any(|op| op.get("responses").is_some())
    });
    taken.ok_or_else(|| format!("operation {id} not found"))
}

fn push_parameter(op: &mut Value, param: Value) -> Result<(), String> {
    let params = op
        .as_object_mut()
        .ok_or("the operation is not an object")?
        .entry("parameters")
        .or_insert_with(|| json!([]));
    let list = params.as_array_mut().ok_or("parameters are not a list")?;
    if list
        .iter()
        .any(|p| p["name"] == param["name"] && p["in"] == param["in"])
    {
        return Err(format!("parameter {} is declared", param["name"]));
    }
    list.push(param);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patched() -> Value {
        let ws = crate::spec::Workspace::locate();
        let upstream = crate::spec::read_upstream(&ws).unwrap();
        let mut doc = crate::convert::swagger2_to_openapi3(&upstream).unwrap();
        apply_all(&mut doc).unwrap();
        doc
    }

    #[test]
    fn every_patch_finds_something_to_fix_in_the_pinned_spec() {
        // apply_all fails when a patch finds nothing; reaching here means all applied.
        let doc = patched();
        assert_eq!(doc["openapi"], "3.0.3");
    }

    #[test]
    fn a_patch_that_finds_nothing_fails_loudly() {
        let mut doc = patched();
        let err = apply_all(&mut doc).unwrap_err();
        assert!(err.starts_with("patch `drop_security`"), "{err}");
    }

    #[test]
    fn no_operation_keeps_a_default_response_or_a_query_in_its_path() {
        let doc = patched();
        for (path, item) in doc["paths"].as_object().unwrap() {
            assert!(!path.contains('?'), "{path}");
            for op in item.as_object().unwrap().values() {
                assert!(op["responses"].get("default").is_none());
                let errors = ["4XX", "5XX"].map(|c| op["responses"].get(c).is_some());
                assert_eq!(errors, [true, true], "{}", op["operationId"]);
            }
        }
    }

    #[test]
    fn every_defect_a_patch_cites_is_in_the_catalogue() {
        let ws = crate::spec::Workspace::locate();
        let catalogue = std::fs::read_to_string(ws.root().join("spec/DEFECTS.md")).unwrap();
        let source = include_str!("patch.rs");
        let mut cited = 0;
        for (i, _) in source.match_indices("// D") {
            let digits: String = source[i + 4..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if digits.is_empty() {
                continue;
            }
            cited += 1;
            assert!(
                catalogue.contains(&format!("**D{digits}.")),
                "D{digits} is cited by a patch but not catalogued in spec/DEFECTS.md"
            );
        }
        assert!(cited > 10, "only {cited} citations found");
    }

    #[test]
    fn the_architecture_enum_is_open() {
        let doc = patched();
        let arch = &doc["components"]["schemas"]["ArtifactArchitecture"];
        assert!(arch.get("enum").is_none());
        assert_eq!(arch["type"], "string");
    }
}
