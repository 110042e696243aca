//! The OpenAPI 3.1 document served at `/api/openapi.json`, written by hand from one table ([`OPS`]):
//! each operation's method, path, summary, who may call it, its parameters, body and answer. A test
//! (`tests/openapi.rs`) checks that every route of the router is in the document and every operation of
//! the document is a route, so the two cannot drift apart.

use serde_json::{json, Map, Value};

/// One operation of the document.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// `get` or `post`.
    pub method: &'static str,
    /// The path, `{name}` for parameters (as the router has it).
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call it: `public`, `any role`, or the rule.
    pub access: &'static str,
    /// Query parameters: (name, required, description).
    pub query: &'static [(&'static str, bool, &'static str)],
    /// The request body's schema, if any.
    pub body: Option<&'static str>,
    /// The answer's schema (a component name, `html` or `sse`).
    pub response: &'static str,
    /// Error statuses besides 401 (which every non-public operation has).
    pub errors: &'static [u16],
}

const ANY: &str = "any role";

/// Every operation.
pub const OPS: &[Op] = &[
    Op { method: "get", path: "/", summary: "The console (HTML), no login", access: "public", query: &[], body: None, response: "html", errors: &[] },
    Op { method: "get", path: "/api/health", summary: "Liveness and version", access: "public", query: &[], body: None, response: "Health", errors: &[] },
    Op { method: "get", path: "/api/openapi.json", summary: "This document", access: "public", query: &[], body: None, response: "Object", errors: &[] },
    Op { method: "post", path: "/api/login", summary: "Log in: a bearer token and an HttpOnly SameSite=Strict cookie; the user's signing key is unlocked for the session", access: "public", query: &[], body: Some("Login"), response: "Session", errors: &[400] },
    Op { method: "post", path: "/api/logout", summary: "End the session (its signing key is wiped)", access: ANY, query: &[], body: None, response: "Object", errors: &[] },
    Op { method: "get", path: "/api/me", summary: "Who is logged in", access: ANY, query: &[], body: None, response: "Me", errors: &[] },
    Op { method: "get", path: "/api/users", summary: "Users: name, role, public key (never a hash or a key)", access: "admin, auditor", query: &[], body: None, response: "Users", errors: &[403] },
    Op { method: "post", path: "/api/users", summary: "Add a user (recorded in the ledger)", access: "admin", query: &[], body: Some("NewUser"), response: "User", errors: &[400, 403, 409] },
    Op { method: "get", path: "/api/assets", summary: "Assets with their health from the findings", access: ANY, query: &[], body: None, response: "Assets", errors: &[] },
    Op { method: "get", path: "/api/assets/{id}", summary: "One asset with its health", access: ANY, query: &[], body: None, response: "Asset", errors: &[404] },
    Op { method: "get", path: "/api/assets/{id}/trend", summary: "A tag's history from the historian (SQL), in at most N buckets (mean, min, max)", access: ANY, query: &[("tag", true, "one of the asset's tags"), ("from", false, "RFC 3339 or Unix ms; default to − 1 h"), ("to", false, "RFC 3339 or Unix ms; default now"), ("points", false, "most buckets (capped by the server)")], body: None, response: "Trend", errors: &[400, 404] },
    Op { method: "get", path: "/api/assets/{id}/spectrum", summary: "Spectrum and squared-envelope spectrum of the latest vibration block, fault frequencies marked", access: ANY, query: &[], body: None, response: "Spectrum", errors: &[404, 422] },
    Op { method: "get", path: "/api/findings", summary: "Findings with the state of their challenges", access: ANY, query: &[], body: None, response: "Findings", errors: &[] },
    Op { method: "get", path: "/api/findings/{id}", summary: "One finding: evidence, cases, simulation, inputs, challenges, verdicts", access: ANY, query: &[], body: None, response: "FindingDetail", errors: &[404] },
    Op { method: "post", path: "/api/findings/{id}/challenge", summary: "Dispute a finding with a reason", access: "operator, approver, engineer, admin (not auditor)", query: &[], body: Some("Challenge"), response: "Appended", errors: &[400, 403, 404] },
    Op { method: "post", path: "/api/findings/{id}/verdict", summary: "Settle a finding: confirmed or disputed with the true label", access: "engineer, approver (not the open challenger)", query: &[], body: Some("FindingVerdict"), response: "Appended", errors: &[400, 403, 404] },
    Op { method: "get", path: "/api/proposals", summary: "Proposals and whether the gate is stopped", access: ANY, query: &[], body: None, response: "ProposalList", errors: &[] },
    Op { method: "post", path: "/api/proposals", summary: "Propose a change as the logged-in person; the policy decides", access: "operator, approver, engineer, admin (not auditor)", query: &[], body: Some("ProposeRequest"), response: "Proposed", errors: &[400, 403, 409] },
    Op { method: "get", path: "/api/proposals/{id}", summary: "One proposal: the exact change, its predicted effect, approvals, ledger records", access: ANY, query: &[], body: None, response: "ProposalDetail", errors: &[404] },
    Op { method: "post", path: "/api/proposals/{id}/approve", summary: "Approve, signed with the logged-in user's key over the exact payload hash", access: "policy approvals.roles (default approver, engineer; safety-critical: engineer; never the proposer)", query: &[], body: Some("Reason"), response: "VerdictOut", errors: &[403, 404, 409] },
    Op { method: "post", path: "/api/proposals/{id}/reject", summary: "Veto, signed (reason required)", access: "policy approvals.roles", query: &[], body: Some("Reason"), response: "VerdictOut", errors: &[400, 403, 404, 409] },
    Op { method: "post", path: "/api/proposals/{id}/reverse", summary: "Record that an executed change was reversed, signed (reason required)", access: "policy approvals.roles", query: &[], body: Some("Reason"), response: "VerdictOut", errors: &[400, 403, 404, 409] },
    Op { method: "post", path: "/api/proposals/{id}/execute", summary: "Carry out an approved proposal (capability only after the durable approval record)", access: "operator, approver, engineer, admin (not auditor)", query: &[], body: None, response: "ExecuteOut", errors: &[403, 404, 409] },
    Op { method: "get", path: "/api/gate", summary: "Whether the gate is stopped", access: ANY, query: &[], body: None, response: "GateStatus", errors: &[] },
    Op { method: "post", path: "/api/gate/stop", summary: "Stop: hold AI-initiated actions, nothing executes", access: "policy stop.halt_roles (default operator, approver, engineer, admin)", query: &[], body: Some("Reason"), response: "StopOut", errors: &[400, 403] },
    Op { method: "post", path: "/api/gate/resume", summary: "Resume a stopped gate", access: "policy stop.resume_roles (default approver, engineer)", query: &[], body: Some("Reason"), response: "ResumeOut", errors: &[400, 403] },
    Op { method: "get", path: "/api/ledger/checkpoint", summary: "The latest signed checkpoint and the site's public key", access: ANY, query: &[], body: None, response: "Checkpoint", errors: &[404] },
    Op { method: "get", path: "/api/ledger/records/{index}", summary: "One ledger record with its RFC 9162 inclusion bundle (verifiable in the browser)", access: ANY, query: &[], body: None, response: "RecordProof", errors: &[400, 404] },
    Op { method: "get", path: "/api/ledger/chain/{id}", summary: "The provenance chain of a proposal, finding or record", access: ANY, query: &[], body: None, response: "Chain", errors: &[404] },
    Op { method: "get", path: "/api/audit/verify", summary: "Verify the whole ledger and the working state", access: ANY, query: &[], body: None, response: "Verify", errors: &[] },
    Op { method: "get", path: "/api/events", summary: "Server-Sent Events: proposal, finding, gate, asset_health, notice, lagged", access: ANY, query: &[], body: None, response: "sse", errors: &[] },
];

fn obj(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

fn schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let any_obj = || json!({"type": "object"});
    let nullable = |t: &str| json!({"type": [t, "null"]});
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let arr = |items: Value| json!({"type": "array", "items": items});
    json!({
        "Error": obj(&["error"], json!({"error": s("string")})),
        "Object": any_obj(),
        "Health": obj(&["status", "version"], json!({"status": s("string"), "version": s("string")})),
        "Role": {"type": "string", "enum": ["operator", "approver", "engineer", "auditor", "admin"]},
        "Login": obj(&["user", "password"], json!({"user": s("string"), "password": s("string")})),
        "Session": obj(&["token", "user", "role", "public_key", "expires_at"], json!({
            "token": s("string"), "user": s("string"), "role": r("Role"), "public_key": s("string"), "expires_at": s("integer")})),
        "Me": obj(&["user", "role", "public_key", "expires_at"], json!({
            "user": s("string"), "role": r("Role"), "public_key": s("string"), "expires_at": s("integer")})),
        "User": obj(&["name", "role", "public_key"], json!({"name": s("string"), "role": r("Role"), "public_key": s("string")})),
        "Users": arr(r("User")),
        "NewUser": obj(&["name", "role", "password"], json!({"name": s("string"), "role": r("Role"), "password": s("string")})),
        "Asset": obj(&["id", "name", "kind", "health"], json!({
            "id": s("string"), "name": s("string"), "kind": s("string"), "area": s("string"),
            "machines": arr(s("string")),
            "tags": arr(obj(&["tag"], json!({"tag": s("string"), "name": s("string"), "unit": s("string")}))),
            "vibration": {"type": ["object", "null"]},
            "health": obj(&["level", "attention", "open", "confirmed", "disputed"], json!({
                "level": {"type": "string", "enum": ["good", "watch", "alarm"]}, "attention": s("number"),
                "open": s("integer"), "confirmed": s("integer"), "disputed": s("integer"), "latest": {"type": ["object", "null"]}}))})),
        "Assets": arr(r("Asset")),
        "Trend": obj(&["tag", "from_ms", "to_ms", "bucket_ms", "points"], json!({
            "tag": s("string"), "from_ms": s("integer"), "to_ms": s("integer"), "bucket_ms": s("integer"),
            "points": arr(obj(&["t_ms", "mean", "min", "max", "count"], json!({
                "t_ms": s("integer"), "mean": s("number"), "min": s("number"), "max": s("number"), "count": s("integer")})))})),
        "Series": obj(&["f0", "df", "amplitude"], json!({"f0": s("number"), "df": s("number"), "amplitude": arr(s("number"))})),
        "Spectrum": obj(&["channel", "block_hash", "rate_hz", "shaft_hz", "band_hz", "spectrum", "envelope_spectrum", "markers"], json!({
            "channel": s("string"), "block_hash": s("string"), "block_start": s("string"), "rate_hz": s("number"),
            "samples": s("integer"), "shaft_hz": s("number"), "shaft_estimated": s("boolean"),
            "band_hz": arr(s("number")), "band_from_kurtogram": s("boolean"), "envelope_kurtosis": s("number"),
            "spectrum": r("Series"), "envelope_spectrum": r("Series"),
            "markers": arr(obj(&["family", "hz", "harmonics"], json!({"family": s("string"), "hz": s("number"), "harmonics": arr(s("number"))})))})),
        "Findings": arr(obj(&["id", "index", "time", "machine", "status", "summary"], json!({
            "id": s("string"), "index": s("integer"), "time": s("string"), "machine": s("string"), "label": nullable("string"),
            "score": nullable("number"), "status": {"type": "string", "enum": ["open", "challenged", "confirmed", "disputed"]},
            "verdict_label": nullable("string"), "file": nullable("string"), "summary": s("string")}))),
        "FindingDetail": obj(&["id", "index", "finding", "status", "challenges", "verdicts", "actor", "used"], json!({
            "id": s("string"), "index": s("integer"), "time": s("string"), "finding": any_obj(), "status": s("string"),
            "challenges": arr(any_obj()), "verdicts": arr(any_obj()), "actor": s("string"), "used": arr(any_obj())})),
        "Challenge": obj(&["reason"], json!({"reason": s("string"), "alternative": nullable("string")})),
        "FindingVerdict": obj(&["outcome"], json!({"outcome": {"type": "string", "enum": ["confirmed", "disputed"]}, "label": nullable("string"), "reason": s("string")})),
        "Appended": obj(&["finding", "index", "kind", "by"], json!({"finding": s("string"), "index": s("integer"), "kind": s("string"), "by": s("string"), "label": nullable("string")})),
        "ProposalList": obj(&["halted", "proposals"], json!({"halted": s("boolean"), "halt": {"type": ["object", "null"]}, "proposals": arr(obj(&["id", "status", "kind", "machine"], json!({
            "id": s("string"), "status": s("string"), "kind": s("string"), "machine": s("string"), "subsystem": nullable("string"),
            "deviation_mm": s("number"), "initiated_by": s("string"), "created_at": s("integer"), "approvals": s("integer"), "required": nullable("integer")})))})),
        "ProposeRequest": obj(&["action"], json!({
            "action": {"type": "object", "required": ["kind"], "description": "tool-offset {machine, tool, offset_kind, current_mm, delta_mm, device_tag}; work-offset {machine, work_offset, current_mm[3], delta_mm[3]}; toolpath {machine, program_name, program, delta_mm[3]}; weld-reroute {machine, cell (the cell file's JSON text)}; driver-write {device, address, value, machine}",
                "properties": {"kind": {"type": "string", "enum": ["tool-offset", "work-offset", "toolpath", "weld-reroute", "driver-write", "write"]}}},
            "subsystem": nullable("string"), "tags": arr(s("string")), "id": nullable("string"), "reason": s("string"), "evidence": arr(s("string"))})),
        "Proposed": obj(&["id", "status", "kind", "machine", "payload_hash", "decision", "records"], json!({
            "id": s("string"), "status": s("string"), "kind": s("string"), "machine": s("string"), "initiated_by": s("string"),
            "deviation_mm": s("number"), "cumulative_before_mm": s("number"), "tolerance_mm": s("number"), "payload_hash": s("string"),
            "decision": any_obj(), "predicted_effect": any_obj(), "records": arr(s("integer"))})),
        "ProposalDetail": obj(&["id", "status", "proposal", "records"], json!({
            "id": s("string"), "status": s("string"), "proposal": any_obj(), "action": {"type": ["object", "null"]},
            "executable": nullable("string"), "records": arr(any_obj())})),
        "Reason": obj(&[], json!({"reason": s("string")})),
        "VerdictOut": obj(&["id", "status", "verdict", "by", "approvals", "required", "record"], json!({
            "id": s("string"), "status": s("string"), "verdict": s("string"), "by": s("string"),
            "approvals": s("integer"), "required": s("integer"), "record": s("integer")})),
        "ExecuteOut": obj(&["id", "status", "detail", "target", "approval_record", "capability_record", "execution_record"], json!({
            "id": s("string"), "status": {"type": "string", "enum": ["executed", "failed"]}, "detail": s("string"), "target": s("string"),
            "outputs": arr(any_obj()), "approval_record": s("integer"), "capability_record": s("integer"), "execution_record": s("integer")})),
        "GateStatus": obj(&["halted"], json!({"halted": s("boolean"), "halt": {"type": ["object", "null"]}, "last_resume": {"type": ["object", "null"]}})),
        "StopOut": obj(&["halted", "held"], json!({"halted": s("boolean"), "held": arr(s("string")), "record": nullable("integer")})),
        "ResumeOut": obj(&["halted"], json!({"halted": s("boolean"), "record": nullable("integer")})),
        "Checkpoint": obj(&["origin", "size", "root", "note", "verifier_key", "public_key"], json!({
            "origin": s("string"), "size": s("integer"), "root": s("string"), "timestamp_ms": s("integer"), "time": s("string"),
            "note": s("string"), "verifier_key": s("string"), "public_key": s("string")})),
        "RecordProof": obj(&["index", "leaf_hash", "record", "bundle"], json!({
            "index": s("integer"), "leaf_hash": s("string"), "record": any_obj(),
            "bundle": obj(&["format", "index", "record", "checkpoint", "proof", "verifier_key"], json!({
                "format": s("string"), "index": s("integer"), "record": {"type": "string", "description": "standard base64 of the record's bytes"},
                "checkpoint": {"type": "string", "description": "signed C2SP checkpoint note"},
                "proof": arr(json!({"type": "string", "description": "standard base64 hash, leaf to root (RFC 9162)"})),
                "verifier_key": s("string")}))})),
        "Chain": obj(&["id", "start", "chain", "inputs", "problems"], json!({
            "id": s("string"), "start": s("integer"), "chain": arr(any_obj()), "inputs": arr(any_obj()), "problems": arr(s("string"))})),
        "Verify": obj(&["ok", "records", "checkpoints", "problems"], json!({
            "ok": s("boolean"), "ledger": s("string"), "verifier_key": nullable("string"), "records": s("integer"),
            "checkpoints": s("integer"), "verified_size": s("integer"), "problems": arr(any_obj())})),
    })
}

fn status_text(code: u16) -> &'static str {
    match code {
        400 => "bad request: the message says what is wrong",
        401 => "not logged in, or the session expired",
        403 => "forbidden by the policy or the role: the message says why",
        404 => "not found",
        409 => "not now: the state does not allow it (already executed, awaiting approval, expired, stopped)",
        422 => "the stored data cannot be analysed",
        _ => "error",
    }
}

/// The document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in OPS {
        let mut o = Map::new();
        o.insert("summary".into(), json!(op.summary));
        o.insert("operationId".into(), json!(format!("{} {}", op.method, op.path)));
        o.insert("x-fos-access".into(), json!(op.access));
        let mut params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        for (name, required, description) in op.query {
            params.push(json!({"name": name, "in": "query", "required": required, "description": description, "schema": {"type": "string"}}));
        }
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = op.body {
            o.insert(
                "requestBody".into(),
                json!({"required": body != "Reason", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}}),
            );
        }
        let ok = match op.response {
            "html" => json!({"description": "the console", "content": {"text/html": {}}}),
            "sse" => json!({"description": "a stream of events", "content": {"text/event-stream": {}}}),
            name => json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}}),
        };
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        let mut errors: Vec<u16> = op.errors.to_vec();
        if op.access != "public" {
            errors.push(401);
            o.insert("security".into(), json!([{"bearer": []}, {"cookie": []}]));
        }
        errors.push(500);
        errors.sort_unstable();
        errors.dedup();
        for code in errors {
            responses.insert(
                code.to_string(),
                json!({"description": status_text(code), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        o.insert("responses".into(), Value::Object(responses));
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(op.method.to_owned(), Value::Object(o));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "FOS API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The FOS site over HTTP: assets and their health, trends, spectra, findings with challenges and verdicts, the safety gate's proposals, approvals signed with each user's own key, the stop, and the tamper-evident ledger with inclusion proofs. Errors are {\"error\": message}."
        },
        "paths": Value::Object(paths),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the token of POST /api/login"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE_NAME}
            }
        }
    })
}
