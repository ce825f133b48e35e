//! Swagger 2.0 → OpenAPI 3.0.3, as a plain transform over `serde_json::Value`.
//!
//! progenitor reads only OpenAPI 3.0.x, and the upstream ACR document is Swagger 2.0. The
//! conversion is faithful: it changes the container format, not the API. Every deviation from
//! the upstream meaning lives in `patch.rs`, where each one is named and explained.

use serde_json::{Map, Value, json};

/// Converts a Swagger 2.0 document into an OpenAPI 3.0.3 document.
///
/// `x-ms-paths` entries become ordinary paths with their keys kept verbatim (for example
/// `/v2/{name}/blobs/{digest}?mode=chunk`); `patch::merge_x_ms_paths_overloads` folds them into
/// their twins afterwards. A key present in both `paths` and `x-ms-paths` is an error, since
/// inserting it twice would silently drop an operation.
pub(crate) fn swagger2_to_openapi3(doc: &Value) -> Result<Value, String> {
    let root = doc.as_object().ok_or("the document is not a JSON object")?;
    match root.get("swagger").and_then(Value::as_str) {
        Some("2.0") => {}
        other => return Err(format!("expected `swagger: \"2.0\"`, found {other:?}")),
    }
    let ctx = Context {
        root,
        produces: string_list(root.get("produces")),
        consumes: string_list(root.get("consumes")),
    };

    let mut out = Map::new();
    out.insert("openapi".into(), json!("3.0.3"));
    out.insert("info".into(), root["info"].clone());
    if let Some(host) = root.get("x-ms-parameterized-host") {
        out.insert("servers".into(), ctx.servers(host)?);
    }
    for key in ["tags", "externalDocs"] {
        if let Some(v) = root.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(security) = root.get("security") {
        out.insert("security".into(), security.clone());
    }

    let mut paths = Map::new();
    for section in ["paths", "x-ms-paths"] {
        for (path, item) in root
            .get(section)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if paths.contains_key(path) {
                return Err(format!("path `{path}` is declared twice ({section})"));
            }
            paths.insert(path.clone(), ctx.path_item(item)?);
        }
    }
    out.insert("paths".into(), Value::Object(paths));

    let mut components = Map::new();
    if let Some(defs) = root.get("definitions").and_then(Value::as_object) {
        let schemas = defs.iter().map(|(k, v)| (k.clone(), schema(v))).collect();
        components.insert("schemas".into(), Value::Object(schemas));
    }
    if let Some(defs) = root.get("securityDefinitions").and_then(Value::as_object) {
        let schemes = defs
            .iter()
            .map(|(k, v)| Ok((k.clone(), security_scheme(v)?)))
            .collect::<Result<Map<_, _>, String>>()?;
        components.insert("securitySchemes".into(), Value::Object(schemes));
    }
    out.insert("components".into(), Value::Object(components));

    for (key, value) in root {
        if key.starts_with("x-") && key != "x-ms-paths" && key != "x-ms-parameterized-host" {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

struct Context<'a> {
    root: &'a Map<String, Value>,
    produces: Vec<String>,
    consumes: Vec<String>,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Context<'_> {
    fn servers(&self, host: &Value) -> Result<Value, String> {
        let template = host["hostTemplate"]
            .as_str()
            .ok_or("hostTemplate is missing")?;
        let mut variables = Map::new();
        for param in host["parameters"].as_array().into_iter().flatten() {
            let param = self.resolve_parameter(param)?;
            let name = param["name"]
                .as_str()
                .ok_or("host parameter without a name")?;
            let mut var = Map::new();
            // OpenAPI 3 requires a default for every server variable; the Swagger host
            // parameter has none, since the caller always supplies the registry's URL.
            var.insert("default".into(), json!(""));
            if let Some(d) = param.get("description") {
                var.insert("description".into(), d.clone());
            }
            variables.insert(name.to_owned(), Value::Object(var));
        }
        Ok(json!([{ "url": template, "variables": variables }]))
    }

    fn resolve_parameter<'p>(&'p self, param: &'p Value) -> Result<&'p Value, String> {
        match param.get("$ref").and_then(Value::as_str) {
            None => Ok(param),
            Some(r) => {
                let name = r
                    .strip_prefix("#/parameters/")
                    .ok_or_else(|| format!("unsupported parameter reference `{r}`"))?;
                self.root
                    .get("parameters")
                    .and_then(|p| p.get(name))
                    .ok_or_else(|| format!("parameter reference `{r}` does not resolve"))
            }
        }
    }

    fn path_item(&self, item: &Value) -> Result<Value, String> {
        let item = item.as_object().ok_or("a path item is not an object")?;
        let shared: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| self.resolve_parameter(p))
            .collect::<Result<_, _>>()?;
        let mut out = Map::new();
        for (key, value) in item {
            if METHODS.contains(&key.as_str()) {
                out.insert(key.clone(), self.operation(value, &shared)?);
            } else if key != "parameters" {
                out.insert(key.clone(), value.clone());
            }
        }
        Ok(Value::Object(out))
    }

    fn operation(&self, op: &Value, shared: &[&Value]) -> Result<Value, String> {
        let op = op.as_object().ok_or("an operation is not an object")?;
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        let produces = op
            .get("produces")
            .map(|p| string_list(Some(p)))
            .unwrap_or_else(|| self.produces.clone());
        let consumes = op
            .get("consumes")
            .map(|c| string_list(Some(c)))
            .unwrap_or_else(|| self.consumes.clone());

        // Operation parameters override path-level ones with the same name and location.
        let mut params: Vec<&Value> = Vec::new();
        for p in op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            params.push(self.resolve_parameter(p)?);
        }
        for p in shared {
            if !params
                .iter()
                .any(|q| q["name"] == p["name"] && q["in"] == p["in"])
            {
                params.push(p);
            }
        }

        let mut parameters = Vec::new();
        let mut body = None;
        let mut form = Vec::new();
        for p in params {
            match p["in"].as_str() {
                Some("body") => body = Some(p),
                Some("formData") => form.push(p),
                Some(_) => parameters.push(parameter(p)),
                None => return Err(format!("{id}: a parameter has no `in`")),
            }
        }

        let mut out = Map::new();
        for (key, value) in op {
            match key.as_str() {
                "parameters" | "responses" | "produces" | "consumes" | "schemes" => {}
                _ => {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        if !parameters.is_empty() {
            out.insert("parameters".into(), Value::Array(parameters));
        }
        match (body, form.is_empty()) {
            (Some(_), false) => return Err(format!("{id}: both body and formData parameters")),
            (Some(b), true) => {
                out.insert("requestBody".into(), request_body(b, &consumes, id)?);
            }
            (None, false) => {
                out.insert("requestBody".into(), form_body(&form, &consumes, id)?);
            }
            (None, true) => {}
        }
        let responses = op
            .get("responses")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{id}: no responses"))?;
        let responses = responses
            .iter()
            .map(|(code, r)| (code.clone(), response(r, &produces)))
            .collect();
        out.insert("responses".into(), Value::Object(responses));
        Ok(Value::Object(out))
    }
}

/// Keywords that a Swagger 2.0 non-body parameter carries at its top level and an
/// OpenAPI 3 parameter carries inside `schema`.
const SCHEMA_KEYS: [&str; 16] = [
    "type",
    "format",
    "items",
    "collectionFormat",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
];

fn parameter(p: &Value) -> Value {
    let mut out = Map::new();
    let mut schema_obj = Map::new();
    for (key, value) in p.as_object().into_iter().flatten() {
        match key.as_str() {
            "collectionFormat" => {}
            "x-nullable" => {
                schema_obj.insert("nullable".into(), value.clone());
            }
            k if SCHEMA_KEYS.contains(&k) => {
                schema_obj.insert(key.clone(), value.clone());
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if p["in"] == "path" {
        out.insert("required".into(), json!(true));
    }
    out.insert("schema".into(), schema(&Value::Object(schema_obj)));
    Value::Object(out)
}

fn request_body(p: &Value, consumes: &[String], id: &str) -> Result<Value, String> {
    if consumes.is_empty() {
        return Err(format!("{id}: a body parameter but no `consumes`"));
    }
    let s = schema(&p["schema"]);
    let content: Map<_, _> = consumes
        .iter()
        .map(|c| (c.clone(), json!({ "schema": s })))
        .collect();
    let mut out = Map::new();
    if let Some(d) = p.get("description") {
        out.insert("description".into(), d.clone());
    }
    out.insert("content".into(), Value::Object(content));
    out.insert(
        "required".into(),
        json!(p["required"].as_bool().unwrap_or(false)),
    );
    copy_extensions(p, &mut out);
    Ok(Value::Object(out))
}

/// Swagger's `formData` parameters become one object schema whose properties keep the wire
/// names (the token endpoints use snake_case by design of the Docker token protocol).
fn form_body(params: &[&Value], consumes: &[String], id: &str) -> Result<Value, String> {
    let media = consumes
        .iter()
        .find(|c| c.as_str() == "application/x-www-form-urlencoded")
        .ok_or_else(|| format!("{id}: formData parameters but no form content type"))?;
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in params {
        let name = p["name"]
            .as_str()
            .ok_or_else(|| format!("{id}: a form field has no name"))?;
        let param = parameter(p);
        let mut prop = param["schema"].as_object().cloned().unwrap_or_default();
        if let Some(d) = p.get("description") {
            prop.insert("description".into(), d.clone());
        }
        copy_extensions(p, &mut prop);
        properties.insert(name.to_owned(), Value::Object(prop));
        if p["required"].as_bool() == Some(true) {
            required.push(json!(name));
        }
    }
    let mut s = Map::new();
    s.insert("type".into(), json!("object"));
    if !required.is_empty() {
        s.insert("required".into(), Value::Array(required));
    }
    s.insert("properties".into(), Value::Object(properties));
    Ok(json!({ "content": { media.as_str(): { "schema": s } }, "required": true }))
}

fn response(r: &Value, produces: &[String]) -> Value {
    let mut out = Map::new();
    out.insert(
        "description".into(),
        r.get("description").cloned().unwrap_or(json!("")),
    );
    if let Some(headers) = r.get("headers").and_then(Value::as_object) {
        let headers = headers
            .iter()
            .map(|(name, h)| {
                let mut header = Map::new();
                let mut s = Map::new();
                for (key, value) in h.as_object().into_iter().flatten() {
                    if key == "description" || key.starts_with("x-") {
                        header.insert(key.clone(), value.clone());
                    } else {
                        s.insert(key.clone(), value.clone());
                    }
                }
                header.insert("schema".into(), schema(&Value::Object(s)));
                (name.clone(), Value::Object(header))
            })
            .collect();
        out.insert("headers".into(), Value::Object(headers));
    }
    if let Some(s) = r.get("schema") {
        let s = schema(s);
        let content: Map<_, _> = produces
            .iter()
            .map(|p| (p.clone(), json!({ "schema": s })))
            .collect();
        out.insert("content".into(), Value::Object(content));
    }
    copy_extensions(r, &mut out);
    Value::Object(out)
}

/// Rewrites a Swagger 2.0 schema into its OpenAPI 3.0 form, recursively.
fn schema(s: &Value) -> Value {
    match s {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "$ref" => {
                        let r = value.as_str().unwrap_or_default();
                        let r = r.replace("#/definitions/", "#/components/schemas/");
                        out.insert(key.clone(), json!(r));
                    }
                    "x-nullable" => {
                        out.insert("nullable".into(), value.clone());
                    }
                    "type" if value == "file" => {
                        out.insert("type".into(), json!("string"));
                        out.insert("format".into(), json!("binary"));
                    }
                    "format" if map.get("type") == Some(&json!("file")) => {}
                    // Property names are data, not schemas; their values are schemas.
                    "properties" => {
                        let props = value.as_object().into_iter().flatten();
                        let props = props.map(|(k, v)| (k.clone(), schema(v))).collect();
                        out.insert(key.clone(), Value::Object(props));
                    }
                    "items" | "additionalProperties" | "not" => {
                        out.insert(key.clone(), schema(value));
                    }
                    "allOf" | "anyOf" | "oneOf" => {
                        let list = value.as_array().into_iter().flatten().map(schema).collect();
                        out.insert(key.clone(), Value::Array(list));
                    }
                    // Swagger's discriminator is a property name; OpenAPI 3's is an object.
                    "discriminator" if value.is_string() => {
                        out.insert(key.clone(), json!({ "propertyName": value }));
                    }
                    _ => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn security_scheme(s: &Value) -> Result<Value, String> {
    let mut out = match s["type"].as_str() {
        Some("basic") => json!({ "type": "http", "scheme": "basic" }),
        Some("apiKey") => json!({ "type": "apiKey", "name": s["name"], "in": s["in"] }),
        Some("oauth2") => return Err("oauth2 security definitions are not converted".into()),
        other => return Err(format!("unknown security definition type {other:?}")),
    };
    if let (Some(d), Some(map)) = (s.get("description"), out.as_object_mut()) {
        map.insert("description".into(), d.clone());
    }
    Ok(out)
}

fn copy_extensions(from: &Value, to: &mut Map<String, Value>) {
    for (key, value) in from.as_object().into_iter().flatten() {
        if key.starts_with("x-") {
            to.insert(key.clone(), value.clone());
        }
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(paths: Value) -> Value {
        json!({
            "swagger": "2.0",
            "info": { "title": "t", "version": "1" },
            "produces": ["application/json"],
            "paths": paths,
            "parameters": { "Name": { "name": "name", "in": "path", "type": "string" } },
            "definitions": { "Thing": { "type": "object", "x-nullable": true,
                "properties": { "f": { "$ref": "#/definitions/Thing" } } } }
        })
    }

    #[test]
    fn parameters_move_their_type_into_a_schema_and_path_parameters_become_required() {
        let doc = minimal(json!({ "/a/{name}": { "get": {
            "operationId": "Get",
            "parameters": [{ "$ref": "#/parameters/Name" },
                           { "name": "n", "in": "query", "type": "integer", "format": "int32" }],
            "responses": { "200": { "description": "ok", "schema": { "$ref": "#/definitions/Thing" } } }
        } } }));
        let out = swagger2_to_openapi3(&doc).unwrap();
        let op = &out["paths"]["/a/{name}"]["get"];
        assert_eq!(op["parameters"][0]["required"], json!(true));
        assert_eq!(op["parameters"][0]["schema"], json!({ "type": "string" }));
        assert_eq!(
            op["parameters"][1]["schema"],
            json!({ "type": "integer", "format": "int32" })
        );
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            json!("#/components/schemas/Thing")
        );
        let thing = &out["components"]["schemas"]["Thing"];
        assert_eq!(thing["nullable"], json!(true));
        assert_eq!(
            thing["properties"]["f"]["$ref"],
            json!("#/components/schemas/Thing")
        );
    }

    #[test]
    fn form_data_becomes_one_urlencoded_object_with_gathered_required_fields() {
        let doc = minimal(json!({ "/t": { "post": {
            "consumes": ["application/x-www-form-urlencoded"],
            "parameters": [
                { "name": "grant_type", "in": "formData", "required": true, "type": "string",
                  "enum": ["a", "b"] },
                { "name": "scope", "in": "formData", "type": "string", "description": "d" }],
            "responses": { "200": { "description": "ok" } }
        } } }));
        let out = swagger2_to_openapi3(&doc).unwrap();
        let body = &out["paths"]["/t"]["post"]["requestBody"];
        let s = &body["content"]["application/x-www-form-urlencoded"]["schema"];
        assert_eq!(s["required"], json!(["grant_type"]));
        assert_eq!(s["properties"]["grant_type"]["enum"], json!(["a", "b"]));
        assert_eq!(s["properties"]["scope"]["description"], json!("d"));
        assert!(out["paths"]["/t"]["post"].get("parameters").is_none());
    }

    #[test]
    fn file_responses_become_binary_strings_and_headers_get_schemas() {
        let doc = minimal(json!({ "/b": { "get": {
            "produces": ["application/octet-stream"],
            "responses": { "200": { "description": "ok",
                "schema": { "type": "file", "format": "file" },
                "headers": { "Content-Length": { "type": "integer", "format": "int64",
                                                 "description": "len" } } } }
        } } }));
        let out = swagger2_to_openapi3(&doc).unwrap();
        let r = &out["paths"]["/b"]["get"]["responses"]["200"];
        assert_eq!(
            r["content"]["application/octet-stream"]["schema"],
            json!({ "type": "string", "format": "binary" })
        );
        assert_eq!(r["headers"]["Content-Length"]["description"], json!("len"));
        assert_eq!(
            r["headers"]["Content-Length"]["schema"]["format"],
            json!("int64")
        );
    }

    #[test]
    fn x_ms_paths_keep_their_keys_and_a_duplicate_key_is_an_error() {
        let op = json!({ "post": { "responses": { "202": { "description": "ok" } } } });
        let mut doc = minimal(json!({ "/u/": op }));
        doc["x-ms-paths"] = json!({ "/u/?mode=resumable": op });
        let out = swagger2_to_openapi3(&doc).unwrap();
        assert!(out["paths"].get("/u/?mode=resumable").is_some());

        doc["x-ms-paths"] = json!({ "/u/": op });
        assert!(
            swagger2_to_openapi3(&doc)
                .unwrap_err()
                .contains("declared twice")
        );
    }

    #[test]
    fn a_document_that_is_not_swagger_2_is_refused() {
        let err = swagger2_to_openapi3(&json!({ "openapi": "3.0.3" })).unwrap_err();
        assert!(err.contains("swagger"), "{err}");
    }
}
