//! The LLM provider against a real HTTP server on loopback: each way a server can answer
//! ends in a clear, typed outcome; the key never leaks; replay answers with no server.

use std::time::Duration;

use kiln_llm::{Config, LlmError, Message, Provider};

use crate::loopback::{Scripted, nothing_listening, serve};

fn provider(url: &str) -> Provider {
    Provider::new(Config {
        endpoint: url.to_string(),
        model: "m".into(),
        // A variable cargo sets for every test run stands in for the key: the test needs no
        // way to change the environment.
        api_key_env: "CARGO_MANIFEST_DIR".into(),
        timeout: Duration::from_millis(800),
        max_reply_bytes: 4096,
        replay: None,
        record: None,
        ..Config::default()
    })
}

#[test]
fn every_way_a_server_answers_ends_in_a_clear_outcome() {
    let key = env!("CARGO_MANIFEST_DIR");
    let ask = [Message::user("hello")];
    // A correct reply, with the key sent as a bearer token and the request non-streamed.
    let s = serve(vec![Scripted::completion("(fn [x] x)")]);
    let r = provider(&s.url).chat(&ask).unwrap();
    assert_eq!(
        (r.content.as_str(), r.model.as_str()),
        ("(fn [x] x)", "loopback-model")
    );
    let got = s.received.lock().unwrap()[0].clone();
    assert_eq!(got.path, "/v1/chat/completions");
    assert!(
        got.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == &format!("Bearer {key}"))
    );
    let body: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body["stream"], false);
    assert_eq!(body["temperature"], 0.0);
    // Each failure, typed, and none mentions the key.
    type Case = (Scripted, fn(&LlmError) -> bool);
    let cases: Vec<Case> = vec![
        (Scripted::status(401, "{\"error\": \"bad key\"}"), |e| {
            matches!(e, LlmError::Unauthorized { status: 401, .. })
        }),
        (
            Scripted {
                headers: vec![("retry-after".into(), "7".into())],
                ..Scripted::status(429, "slow down")
            },
            |e| {
                matches!(
                    e,
                    LlmError::RateLimited {
                        retry_after: Some(7)
                    }
                )
            },
        ),
        (Scripted::status(500, "boom"), |e| {
            matches!(e, LlmError::Status { status: 500, .. })
        }),
        (
            Scripted {
                delay: Duration::from_millis(2000),
                ..Scripted::completion("late")
            },
            |e| matches!(e, LlmError::Timeout { .. }),
        ),
        (Scripted::completion(&"x".repeat(10_000)), |e| {
            matches!(e, LlmError::TooLarge { limit: 4096 })
        }),
        (Scripted::json("this is not json"), |e| {
            matches!(e, LlmError::NotOpenAi(_))
        }),
        (Scripted::json("{\"choices\": []}"), |e| {
            matches!(e, LlmError::NotOpenAi(_))
        }),
        (
            Scripted {
                headers: vec![("content-type".into(), "text/event-stream".into())],
                ..Scripted::json("data: {\"choices\": []}\n\n")
            },
            |e| matches!(e, LlmError::Streamed),
        ),
    ];
    for (reply, ok) in cases {
        let s = serve(vec![reply.clone()]);
        let e = provider(&s.url).chat(&ask).unwrap_err();
        assert!(ok(&e), "{reply:?} → {e:?}");
        assert!(
            !e.to_string().contains(key) && !format!("{e:?}").contains(key),
            "{e}"
        );
    }
    // Nothing listening.
    let e = provider(&nothing_listening()).chat(&ask).unwrap_err();
    assert!(matches!(e, LlmError::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("is the server running"), "{e}");
    // Not configured at all.
    let e = provider("").chat(&ask).unwrap_err();
    assert_eq!(e, LlmError::NotConfigured);
}

#[test]
fn recorded_exchanges_replay_with_no_server() {
    let dir = std::env::temp_dir().join(format!("kiln-llm-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = serve(vec![Scripted::completion("(fn [xs] (count xs))")]);
    let ask = [Message::system("be brief"), Message::user("count them")];
    let mut c = Config {
        endpoint: s.url.clone(),
        model: "m".into(),
        record: Some(dir.clone()),
        replay: None,
        ..Config::default()
    };
    let live = Provider::new(c.clone()).chat(&ask).unwrap();
    c.endpoint = nothing_listening();
    c.record = None;
    c.replay = Some(dir.clone());
    let again = Provider::new(c.clone()).chat(&ask).unwrap();
    assert_eq!(again.content, live.content);
    assert!(again.replayed);
    // A request never recorded is a clear error, not a call.
    let e = Provider::new(c)
        .chat(&[Message::user("something else")])
        .unwrap_err();
    assert!(matches!(e, LlmError::NotRecorded { .. }), "{e:?}");
    std::fs::remove_dir_all(&dir).ok();
}
