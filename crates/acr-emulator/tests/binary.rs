//! The `acr-emulator` binary: prints its endpoint, serves, logs, exits 0 on SIGTERM; as
//! `acr-emulator token-service`, the same for a Docker token service.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_serves_logs_and_exits_cleanly_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("acr-emulator-bin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let cert = dir.join("cert.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_acr-emulator"))
        .args([
            "--port",
            "0",
            "--anonymous-pull",
            "--user",
            "admin:s3cret",
            "--tls",
        ])
        .arg("--access-log")
        .arg(&log)
        .arg("--cert-out")
        .arg(&cert)
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line.trim().to_string();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");

    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let resp = client
        .get(format!("{endpoint}/acr/v1/_catalog?n=5"))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    terminate(child);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "GET /acr/v1/_catalog?n=5 200\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn token_service_subcommand_prints_its_realm_and_writes_its_certificate() {
    let dir = std::env::temp_dir().join(format!("acr-emulator-token-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("token.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_acr-emulator"))
        .args([
            "token-service",
            "--port",
            "0",
            "--service",
            "bin-registry",
            "--issuer",
            "bin-issuer",
            "--user",
            "e2e:e2e-password",
            "--lifetime-secs",
            "42",
        ])
        .arg("--cert-out")
        .arg(&cert)
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let realm = line.trim().to_string();
    assert!(
        realm.starts_with("http://127.0.0.1:") && realm.ends_with("/token"),
        "{realm}"
    );
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

    let client = reqwest::Client::new();
    let resp = client
        .get(&realm)
        .query(&[("service", "bin-registry"), ("scope", "repository:a:push")])
        .basic_auth("e2e", Some("e2e-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], 42);
    let claims = body["token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "bin-issuer");
    assert_eq!(claims["aud"], "bin-registry");
    assert_eq!(claims["access"][0]["actions"][0], "push");
    let resp = client
        .get(&realm)
        .basic_auth("e2e", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    terminate(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sends SIGTERM, as service managers stop it, and expects a clean exit.
fn terminate(mut child: std::process::Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
