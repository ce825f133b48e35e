//! The `acr` binary listing 100 000 tags from the test registry, page by page: elapsed
//! time and peak RSS per page size and output format, to show that a listing's memory
//! does not grow with the number of tags. Prints figures; asserts nothing.
//!
//! `cargo bench -p acr-cli --bench listing` (needs /usr/bin/time, for the child's peak RSS).

use std::process::{Command, Stdio};
use std::time::Instant;

const TAGS: usize = 100_000;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let registry = runtime.block_on(async {
        acr_emulator::Emulator::builder()
            .user("bench", "bench-password")
            .start()
            .await
            .expect("the test registry starts")
    });
    let repository = "bench/many";
    registry.put_blob(repository, &b"{}"[..]).unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{EMPTY}","size":2}},"layers":[]}}"#
    );
    let digest = registry
        .put_manifest(repository, "t0", OCI_MANIFEST, manifest.into_bytes())
        .unwrap();
    for i in 1..TAGS {
        registry.tag(repository, &format!("t{i}"), &digest).unwrap();
    }

    println!("acr tag ls, {TAGS} tags from acr-emulator");
    println!(
        "{:>9} {:>6} {:>9} {:>9} {:>10}",
        "page size", "output", "lines", "seconds", "peak RSS"
    );
    for page_size in [100, 1000] {
        for json in [false, true] {
            let mut command = Command::new("/usr/bin/time");
            command
                .args(["-f", "%M", env!("CARGO_BIN_EXE_acr")])
                .args(["--allow-http", "--registry", registry.endpoint()])
                .args(["--username", "bench"])
                .env("ACR_PASSWORD", "bench-password")
                .env(
                    "DOCKER_CONFIG",
                    std::env::temp_dir().join("acr-bench-no-config"),
                )
                .args([
                    "tag",
                    "ls",
                    repository,
                    "--page-size",
                    &page_size.to_string(),
                ]);
            if json {
                command.args(["--output", "json"]);
            }
            let started = Instant::now();
            let output = command
                .stdin(Stdio::null())
                .output()
                .expect("/usr/bin/time runs acr");
            let seconds = started.elapsed().as_secs_f64();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            // `time -f %M` writes the peak RSS in KiB as stderr's last line.
            let rss_kib: f64 = String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .and_then(|line| line.trim().parse().ok())
                .unwrap_or(f64::NAN);
            let lines = output.stdout.iter().filter(|&&b| b == b'\n').count();
            println!(
                "{page_size:>9} {:>6} {lines:>9} {seconds:>9.2} {:>7.1}MiB",
                if json { "json" } else { "text" },
                rss_kib / 1024.0
            );
        }
    }
    runtime.block_on(registry.shutdown());
}
