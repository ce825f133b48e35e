//! The `acr-emulator` binary: prints its endpoint, serves, logs, exits 0 on SIGTERM.

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

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "GET /acr/v1/_catalog?n=5 200\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
