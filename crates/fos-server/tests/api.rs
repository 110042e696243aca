//! The API against a real listener on 127.0.0.1 with a real site: the public routes, login, logout and
//! sessions, the authorization of every route for every role, no route leaking another's data, the
//! trend from a real historian, the spectrum of a synthetic faulty bearing, events, the OpenAPI
//! document against the router, and a graceful shutdown.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use fos_site::{ActionSpec, ProposeRequest, Proposer, Role, Status};
use serde_json::{json, Value};
use support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn public_routes_answer_without_login_and_the_console_is_html_without_a_redirect() {
    let fx = Fixture::new();
    runtime().block_on(async {
        let (running, base, stop) = fx.start().await;
        let c = client();
        let r = c.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(r.status(), 200, "no redirect");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert!(r.text().await.unwrap().contains("<h1>FOS</h1>"));
        let (s, v) = call(&c, "GET", &format!("{base}/api/health"), None, None).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
        let (s, v) = call(&c, "GET", &format!("{base}/api/openapi.json"), None, None).await;
        assert_eq!((s, v["openapi"].as_str()), (200, Some("3.1.0")));
        // Everything else needs a login, with a JSON error naming what to do.
        for path in ["/api/me", "/api/assets", "/api/findings", "/api/proposals", "/api/ledger/checkpoint", "/api/events"] {
            let (s, v) = call(&c, "GET", &format!("{base}{path}"), None, None).await;
            assert_eq!(s, 401, "{path}");
            assert!(v["error"].as_str().unwrap().contains("log in"), "{path}: {v}");
        }
        // Unknown routes: JSON 404 under /api, plain 404 for a missing console file.
        let (s, v) = call(&c, "GET", &format!("{base}/api/nope"), None, None).await;
        assert_eq!(s, 404);
        assert!(v["error"].as_str().unwrap().contains("no route GET /api/nope"));
        assert_eq!(c.get(format!("{base}/nope.js")).send().await.unwrap().status(), 404);
        stop.send(()).unwrap();
        running.wait().await.unwrap();
    });
}

#[test]
fn login_logout_me_and_a_token_acts_only_as_its_own_user() {
    let fx = Fixture::new();
    runtime().block_on(async {
        let (running, base, stop) = fx.start().await;
        let c = client();
        // A wrong password and an unknown user get the same answer.
        for (user, pw) in [("alex", "wrong-password"), ("nobody", "wrong-password")] {
            let (s, v) = call(&c, "POST", &format!("{base}/api/login"), None, Some(json!({"user": user, "password": pw}))).await;
            assert_eq!(s, 401);
            assert!(v["error"].as_str().unwrap().ends_with("invalid user name or password"), "{v}");
        }
        let (s, _) = call(&c, "POST", &format!("{base}/api/login"), None, Some(json!({"user": "alex"}))).await;
        assert_eq!(s, 400, "a body without the password is a bad request");

        let r = c.post(format!("{base}/api/login")).json(&json!({"user": "alex", "password": password("alex")})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        for part in ["fos_session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let session: Value = r.json().await.unwrap();
        let alex = session["token"].as_str().unwrap().to_owned();
        assert_eq!(alex.len(), 64);
        assert_eq!((session["user"].as_str(), session["role"].as_str()), (Some("alex"), Some("approver")));
        assert!(cookie.contains(&alex));
        let erin = login(&c, &base, "erin").await;
        assert_ne!(alex, erin);

        // Each token is its own user, by header and by cookie.
        let (_, me) = call(&c, "GET", &format!("{base}/api/me"), Some(&alex), None).await;
        assert_eq!((me["user"].as_str(), me["role"].as_str()), (Some("alex"), Some("approver")));
        let (_, me) = call(&c, "GET", &format!("{base}/api/me"), Some(&erin), None).await;
        assert_eq!(me["user"], "erin");
        let by_cookie: Value = c
            .get(format!("{base}/api/me"))
            .header("cookie", format!("fos_session={erin}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(by_cookie["user"], "erin");
        // A state change by cookie from another site is refused; from this one it is not.
        let p = ai_proposal(&fx, "mill-9", 0.004);
        let r = c
            .post(format!("{base}/api/proposals/{p}/approve"))
            .header("cookie", format!("fos_session={erin}"))
            .header("origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        // An approval with alex's token is alex's, signed with alex's key, whatever else is logged in.
        let (s, v) = call(&c, "POST", &format!("{base}/api/proposals/{p}/approve"), Some(&alex), None).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!((v["by"].as_str(), v["status"].as_str()), (Some("alex"), Some("approved")));
        let (_, rec) = call(&c, "GET", &format!("{base}/api/ledger/records/{}", v["record"]), Some(&erin), None).await;
        assert_eq!(rec["record"]["actor"]["name"], "alex");
        assert_eq!(rec["record"]["entity"]["signature"]["by"], "alex");
        let keys = fx.site.users().unwrap();
        let alex_key = keys.iter().find(|u| u.name == "alex").unwrap().public_key.clone();
        assert_eq!(me_key(&c, &base, &alex).await, alex_key);
        let approval: fos_gate::Approval = serde_json::from_value(rec["record"]["entity"]["signature"].clone()).unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&fos_prov::parse_hash(&alex_key).unwrap()).unwrap();
        assert!(approval.verifies_with(&key), "the approval verifies with alex's key");

        // Logout ends the session for header and cookie alike; the other session lives on.
        let r = c.post(format!("{base}/api/logout")).bearer_auth(&alex).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        let (s, _) = call(&c, "GET", &format!("{base}/api/me"), Some(&alex), None).await;
        assert_eq!(s, 401);
        let (s, _) = call(&c, "POST", &format!("{base}/api/logout"), Some(&alex), None).await;
        assert_eq!(s, 401);
        let (s, _) = call(&c, "GET", &format!("{base}/api/me"), Some(&erin), None).await;
        assert_eq!(s, 200);
        let forged = "ab".repeat(32);
        let (s, _) = call(&c, "GET", &format!("{base}/api/me"), Some(&forged), None).await;
        assert_eq!(s, 401);
        assert_eq!(running.state().sessions_live(), 1);
        stop.send(()).unwrap();
        running.wait().await.unwrap();
    });
}

async fn me_key(c: &reqwest::Client, base: &str, token: &str) -> String {
    call(c, "GET", &format!("{base}/api/me"), Some(token), None).await.1["public_key"].as_str().unwrap().to_owned()
}

/// A tool-offset proposal by an AI model on `machine`; its id.
fn ai_proposal(fx: &Fixture, machine: &str, delta_mm: f64) -> String {
    let req = ProposeRequest {
        action: ActionSpec::ToolOffset {
            machine: machine.into(),
            tool: 1,
            offset_kind: fos_act::ToolOffsetKind::LengthWear,
            current_mm: 0.0,
            delta_mm,
            device_tag: None,
        },
        subsystem: None,
        tags: vec![],
        id: None,
        reason: "test".into(),
        evidence: vec![],
    };
    fx.site.propose(Proposer::Model("wear-net@2.1"), &req).unwrap().id
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    As(&'static str, Role),
}

const CALLERS: [Who; 6] = [
    Who::Nobody,
    Who::As("olga", Role::Operator),
    Who::As("alex", Role::Approver),
    Who::As("erin", Role::Engineer),
    Who::As("aud", Role::Auditor),
    Who::As("ann", Role::Admin),
];

/// What the policy says a role gets.
fn expected(route: &str, who: Who) -> u16 {
    let public = ["GET /", "GET /api/health", "GET /api/openapi.json", "POST /api/login"];
    if public.contains(&route) {
        return 200;
    }
    let Who::As(_, role) = who else { return 401 };
    let allowed = |roles: &[Role]| if roles.contains(&role) { 200 } else { 403 };
    use Role::*;
    match route {
        "GET /api/users" => allowed(&[Admin, Auditor]),
        "POST /api/users" => allowed(&[Admin]),
        "POST /api/findings/{id}/challenge" | "POST /api/proposals" | "POST /api/proposals/{id}/execute" => {
            allowed(&[Operator, Approver, Engineer, Admin])
        }
        "POST /api/findings/{id}/verdict" => allowed(&[Approver, Engineer]),
        "POST /api/proposals/{id}/approve" | "POST /api/proposals/{id}/reject" | "POST /api/proposals/{id}/reverse" => {
            allowed(&[Approver, Engineer])
        }
        "POST /api/gate/stop" => allowed(&[Operator, Approver, Engineer, Admin]),
        "POST /api/gate/resume" => allowed(&[Approver, Engineer]),
        _ => 200,
    }
}

#[test]
fn every_route_refuses_a_role_the_policy_does_not_allow() {
    let fx = Fixture::new();
    runtime().block_on(async {
        let (running, base, stop) = fx.start().await;
        let c = client();
        let mut tokens = std::collections::BTreeMap::new();
        for who in CALLERS {
            if let Who::As(name, _) = who {
                tokens.insert(name, login(&c, &base, name).await);
            }
        }
        let routes = fos_server::route_list();
        // The gate's stop and resume last: a stopped gate refuses approvals.
        let mut order: Vec<(String, String)> = routes.iter().filter(|(_, p)| !p.starts_with("/api/gate/")).cloned().collect();
        order.extend(routes.iter().filter(|(_, p)| p.starts_with("/api/gate/")).cloned());
        let mut checked = BTreeSet::new();
        let mut n = 0;
        for (method, path) in &order {
            let route = format!("{method} {path}");
            for who in CALLERS {
                // A fresh object for each call that changes one.
                let (url, body) = match route.as_str() {
                    "GET /api/assets/{id}" => ("/api/assets/motor-1".to_owned(), None),
                    "GET /api/assets/{id}/trend" => ("/api/assets/motor-1/trend?tag=motor-1.temp&from=0&points=10".to_owned(), None),
                    "GET /api/assets/{id}/spectrum" => ("/api/assets/motor-1/spectrum".to_owned(), None),
                    "GET /api/findings/{id}" => (format!("/api/findings/{}", fx.finding), None),
                    "GET /api/ledger/chain/{id}" => (format!("/api/ledger/chain/{}", fx.finding), None),
                    "GET /api/ledger/records/{index}" => ("/api/ledger/records/3".to_owned(), None),
                    "POST /api/login" => ("/api/login".to_owned(), Some(json!({"user": "pat", "password": password("pat")}))),
                    "POST /api/users" => {
                        n += 1;
                        ("/api/users".to_owned(), Some(json!({"name": format!("new-{n}"), "role": "operator", "password": "new-user-pass-1"})))
                    }
                    "POST /api/findings/{id}/challenge" => {
                        (format!("/api/findings/{}/challenge", fx.finding), Some(json!({"reason": "humidity, not bearing wear", "alternative": "humidity"})))
                    }
                    "POST /api/findings/{id}/verdict" => {
                        // Settled by ezra (who never challenges), then challenged by olga only: no engineer
                        // or approver calling raised the open challenge.
                        let ezra = fx.site.authenticate("ezra", password("ezra")).unwrap();
                        fx.site.finding_verdict(&ezra, &fx.finding, fos_site::findings::Outcome::Confirmed, None, "").unwrap();
                        let olga = fx.site.authenticate("olga", password("olga")).unwrap();
                        fx.site.challenge(&olga, &fx.finding, "looks like the coupling", Some("misalignment")).unwrap();
                        (format!("/api/findings/{}/verdict", fx.finding), Some(json!({"outcome": "confirmed", "reason": "spall found"})))
                    }
                    "POST /api/proposals" => (
                        "/api/proposals".to_owned(),
                        Some(json!({"action": {"kind": "tool-offset", "machine": "mill-api", "delta_mm": 0.01}, "reason": "operator saw wear"})),
                    ),
                    "GET /api/proposals/{id}" => (format!("/api/proposals/{}", ai_proposal(&fx, "mill-show", 0.004)), None),
                    "POST /api/proposals/{id}/approve" => (format!("/api/proposals/{}/approve", ai_proposal(&fx, "mill-a", 0.004)), None),
                    "POST /api/proposals/{id}/reject" => {
                        (format!("/api/proposals/{}/reject", ai_proposal(&fx, "mill-r", 0.004)), Some(json!({"reason": "not now"})))
                    }
                    "POST /api/proposals/{id}/reverse" => {
                        n += 1;
                        let p = ai_proposal(&fx, &format!("mill-rev-{n}"), 0.001);
                        fx.site.execute(None, &p, Duration::from_secs(3)).unwrap();
                        (format!("/api/proposals/{p}/reverse"), Some(json!({"reason": "finish got worse"})))
                    }
                    "POST /api/proposals/{id}/execute" => {
                        n += 1;
                        (format!("/api/proposals/{}/execute", ai_proposal(&fx, &format!("mill-x-{n}"), 0.001)), None)
                    }
                    "POST /api/gate/stop" | "POST /api/gate/resume" => (path.clone(), Some(json!({"reason": "drill"}))),
                    _ if path.contains('{') => panic!("route {route} has no fixture in this test: add one"),
                    _ => (path.clone(), if method == "POST" { Some(json!({})) } else { None }),
                };
                // Logging out ends a session: use a fresh one.
                let token = match who {
                    Who::Nobody => None,
                    Who::As(name, _) if route == "POST /api/logout" => Some(login(&c, &base, name).await),
                    Who::As(name, _) => Some(tokens[name].clone()),
                };
                let (status, v) = call(&c, method, &format!("{base}{url}"), token.as_deref(), body).await;
                let want = expected(&route, who);
                assert_eq!(status, want, "{route} as {who:?}: {v}");
                if status == 403 {
                    let Who::As(name, role) = who else { unreachable!() };
                    let msg = v["error"].as_str().unwrap_or_default();
                    assert!(msg.contains(name) && msg.contains(role.as_str()), "{route} as {who:?}: the reason names who and the role: {msg}");
                }
                if status == 401 {
                    assert!(v["error"].is_string(), "{route}: {v}");
                }
            }
            checked.insert(route);
        }
        assert_eq!(checked.len(), routes.len(), "every route checked");
        assert!(routes.len() >= 30, "{routes:?}");
        // And the ledger still verifies after all of it.
        let (_, v) = call(&c, "GET", &format!("{base}/api/audit/verify"), Some(&tokens["aud"]), None).await;
        assert_eq!(v["ok"], true, "{v}");
        stop.send(()).unwrap();
        running.wait().await.unwrap();
    });
}

#[test]
fn no_route_shows_a_password_hash_or_key_material() {
    let fx = Fixture::new();
    runtime().block_on(async {
        let (running, base, stop) = fx.start().await;
        let c = client();
        let ann = login(&c, &base, "ann").await;
        let (s, users) = call(&c, "GET", &format!("{base}/api/users"), Some(&ann), None).await;
        assert_eq!(s, 200);
        let users = users.as_array().unwrap();
        assert_eq!(users.len(), USERS.len());
        for u in users {
            let keys: BTreeSet<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, BTreeSet::from(["name", "role", "public_key"]), "{u}");
        }
        let store = std::fs::read_to_string(fx.dir.join("users.json")).unwrap();
        let stored: Value = serde_json::from_str(&store).unwrap();
        let secrets: Vec<String> = stored["users"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|u| [u["password_hash"].as_str().unwrap().to_owned(), u["secret_key"]["ciphertext"].as_str().unwrap().to_owned()])
            .collect();
        // Whatever a logged-in admin reads, nothing of users.json's secrets comes back.
        for path in ["/api/users", "/api/me", "/api/proposals", "/api/findings", "/api/ledger/checkpoint", "/api/ledger/records/0", "/api/audit/verify"] {
            let text = c.get(format!("{base}{path}")).bearer_auth(&ann).send().await.unwrap().text().await.unwrap();
            for s in &secrets {
                assert!(!text.contains(s.as_str()), "{path} leaks a secret");
            }
            assert!(!text.contains("argon2") && !text.contains(password("ann")), "{path}");
        }
        stop.send(()).unwrap();
        running.wait().await.unwrap();
    });
}

#[test]
fn assets_carry_health_from_findings_and_trends_come_from_the_historian() {
    let fx = Fixture::new();
    runtime().block_on(async {
        let (running, base, stop) = fx.start().await;
        let c = client();
        let olga = login(&c, &base, "olga").await;
        let erin = login(&c, &base, "erin").await;
        let (_, assets) = call(&c, "GET", &format!("{base}/api/assets"), Some(&olga), None).await;
        let level = |assets: &Value, id: &str| assets.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["health"]["level"].clone();
        assert_eq!(level(&assets, "motor-1"), "watch", "an open finding: {assets}");
        assert_eq!(level(&assets, "mill-3"), "good");
        assert_eq!(assets[0]["health"]["latest"]["id"], fx.finding.as_str());
        // A confirmed finding raises an alarm; a disputed one counts for nothing.
        let (s, v) = call(&c, "POST", &format!("{base}/api/findings/{}/verdict", fx.finding), Some(&erin), Some(json!({"outcome": "confirmed"}))).await;
        assert_eq!(s, 200, "{v}");
        let (_, asset) = call(&c, "GET", &format!("{base}/api/assets/motor-1"), Some(&olga), None).await;
        assert_eq!((asset["health"]["level"].as_str(), asset["health"]["confirmed"].as_u64()), (Some("alarm"), Some(1)));
        let (s, v) = call(&c, "POST", &format!("{base}/api/findings/{}/verdict", fx.finding), Some(&erin), Some(json!({"outcome": "disputed", "label": "humidity"}))).await;
        assert_eq!(s, 200, "{v}");
        let (_, asset) = call(&c, "GET", &format!("{base}/api/assets/motor-1"), Some(&olga), None).await;
        assert_eq!(asset["health"]["level"], "good");

        // The ramp: 1000 s of value = second index, sample 500 bad; 10 buckets of 100 s.
        let url = format!("{base}/api/assets/motor-1/trend?tag=motor-1.temp&from={}&to={}&points=10", RAMP_T0_MS, RAMP_T0_MS + 1_000_000);
        let (s, t) = call(&c, "GET", &url, Some(&olga), None).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["bucket_ms"], 100_000);
        let pts = t["points"].as_array().unwrap();
        assert_eq!(pts.len(), 10, "{t}");
        for (k, p) in pts.iter().enumerate() {
            let k = k as f64;
            assert_eq!(p["t_ms"].as_i64().unwrap(), RAMP_T0_MS + k as i64 * 100_000);
            assert_eq!(p["max"].as_f64().unwrap(), 100.0 * k + 99.0);
            if k == 5.0 {
                assert_eq!(p["count"], 99, "the bad sample is left out");
                assert_eq!(p["min"].as_f64().unwrap(), 501.0);
                assert!((p["mean"].as_f64().unwrap() - (549.5 * 100.0 - 500.0) / 99.0).abs() < 1e-9);
            } else {
                assert_eq!(p["count"], 100);
                assert_eq!(p["min"].as_f64().unwrap(), 100.0 * k);
                assert!((p["mean"].as_f64().unwrap() - (100.0 * k + 49.5)).abs() < 1e-9);
            }
        }
        // RFC 3339 times work too; an unknown tag, a backwards range and a bad time are refused.
        let url = format!("{base}/api/assets/motor-1/trend?tag=motor-1.temp&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:40Z&points=1");
        let (_, t) = call(&c, "GET", &url, Some(&olga), None).await;
        assert_eq!((t["points"][0]["count"].as_u64(), t["points"][0]["max"].as_f64()), (Some(100), Some(99.0)), "{t}");
        let (s, _) = call(&c, "GET", &format!("{base}/api/assets/motor-1/trend?tag=other"), Some(&olga), None).await;
        assert_eq!(s, 404);
        let (s, _) = call(&c, "GET", &format!("{base}/api/assets/motor-1/trend?tag=motor-1.temp&from=10&to=5"), Some(&olga), None).await;
        assert_eq!(s, 400);
        let (s, v) = call(&c, "GET", &format!("{base}/api/assets/motor-1/trend?tag=motor-1.temp&from=yesterday"), Some(&olga), None).await;
        assert_eq!(s, 400, "{v}");
        let (s, _) = call(&c, "GET", &format!("{base}/api/assets/motor-1/trend"), Some(&olga), None).await;
        assert_eq!(s, 400, "the tag is required");
        let (s, _) = call(&c, "GET", &format!("{base}/api/assets/nope"), Some(&olga), None).await;
        assert_eq!(s, 404);

        // The spectrum of the latest block: an outer-race fault, its line on the outer marker.
        let (s, sp) = call(&c, "GET", &format!("{base}/api/assets/motor-1/spectrum"), Some(&olga), None).await;
        assert_eq!(s, 200, "{sp}");
        let bpfo = sp["markers"].as_array().unwrap().iter().find(|m| m["family"] == "outer").unwrap()["hz"].as_f64().unwrap();
        let es = &sp["envelope_spectrum"];
        let df = es["df"].as_f64().unwrap();
        let amp: Vec<f64> = es["amplitude"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let shaft = sp["shaft_hz"].as_f64().unwrap();
        let (i, _) = amp.iter().enumerate().filter(|(i, _)| (*i as f64 + 0.5) * df > 1.5 * shaft).max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        assert!(((i as f64 + 0.5) * df - bpfo).abs() <= 2.0 * df + 0.01 * bpfo, "line {} Hz, BPFO {bpfo} Hz", (i as f64 + 0.5) * df);
        assert_eq!(sp["block_hash"], support::block(Some(fos_signal::kinematics::FaultKind::Outer)).content_hash());
        let (s, _) = call(&c, "GET", &format!("{base}/api/assets/mill-3/spectrum"), Some(&olga), None).await;
        assert_eq!(s, 404, "no vibration channel");
        stop.send(()).unwrap();
        running.wait().await.unwrap();
    });
}

#[test]
fn events_stream_a_proposal_and_end_with_the_server() {
    let fx = Fixture::new();
    runtime().block_on(async {
        let (running, base, stop) = fx.start().await;
        let c = client();
        let olga = login(&c, &base, "olga").await;
        let mut sse = c.get(format!("{base}/api/events")).bearer_auth(&olga).send().await.unwrap();
        assert_eq!(sse.status(), 200);
        assert!(sse.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let (s, p) = call(
            &c,
            "POST",
            &format!("{base}/api/proposals"),
            Some(&olga),
            Some(json!({"action": {"kind": "tool-offset", "machine": "mill-7", "delta_mm": 0.004}})),
        )
        .await;
        assert_eq!(s, 200, "{p}");
        assert_eq!(p["status"], "awaiting_approval");
        assert_eq!(p["initiated_by"], "user:olga");
        let id = p["id"].as_str().unwrap().to_owned();
        let mut seen = String::new();
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = sse.chunk().await.unwrap() {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains("event: proposal") && seen.contains(&format!("\"id\":\"{id}\"")) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "events: {seen}");
        assert!(seen.contains("\"status\":\"awaiting_approval\""), "{seen}");
        // A change made outside the API (another process, the pipeline) is published by the watcher.
        let other = ai_proposal(&fx, "mill-8", 0.001);
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = sse.chunk().await.unwrap() {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains(&format!("\"id\":\"{other}\"")) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "events: {seen}");
        // The caller publishes its own events on the same channel.
        running.events().publish(fos_server::Event::Notice { topic: "scenario".into(), data: json!({"step": 2}) });
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = sse.chunk().await.unwrap() {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains("event: notice") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "events: {seen}");
        // Shutting down ends the stream and the server.
        stop.send(()).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match sse.chunk().await {
                    Ok(Some(_)) => continue,
                    _ => return,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the event stream ends at shutdown");
        tokio::time::timeout(Duration::from_secs(10), running.wait()).await.expect("graceful shutdown").unwrap();
        assert!(reqwest::get(format!("{base}/api/health")).await.is_err(), "nothing listens after shutdown");
    });
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_of_the_router() {
    let doc = fos_server::openapi::document();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            if op["x-fos-access"] != "public" {
                assert!(op["responses"]["401"].is_object(), "{method} {path} documents 401");
            }
            // Every schema a route cites exists.
            let text = op.to_string();
            for part in text.split("#/components/schemas/").skip(1) {
                let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                assert!(doc["components"]["schemas"][&name].is_object(), "{method} {path} cites missing schema {name}");
            }
        }
    }
    let routed: BTreeSet<(String, String)> = fos_server::route_list().into_iter().collect();
    assert_eq!(routed.difference(&documented).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "routes missing from the document");
    assert_eq!(documented.difference(&routed).collect::<Vec<_>>(), Vec::<&(String, String)>::new(), "documented operations without a route");
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn a_bound_port_is_refused_with_the_address() {
    let fx = Fixture::new();
    runtime().block_on(async {
        let (running, _, stop) = fx.start().await;
        let config = fos_server::ServerConfig { bind: running.addr(), ..Default::default() };
        let again = fos_server::serve(config, fx.site.clone(), std::sync::Arc::new(fx.plant()), fx.providers(), fos_server::ConsoleAssets::placeholder(), async {}).await;
        let err = again.unwrap_err().to_string();
        assert!(err.contains(&running.addr().to_string()) && err.contains("cannot listen"), "{err}");
        stop.send(()).unwrap();
        running.wait().await.unwrap();
    });
    // The site is untouched by any of it.
    assert!(fx.site.audit_verify().unwrap().ok);
    assert_eq!(fx.site.proposals().unwrap().proposals.iter().filter(|p| p.status == Status::Executed).count(), 0);
}
