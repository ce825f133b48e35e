//! `oci-client-peer REGISTRY_URL REPOSITORY DIGEST OUT`: oci-client's `pull_blob` of one
//! blob into the file OUT, anonymously, as a peer in `../peers.sh`. oci-client checks the
//! blob against its digest (and against `Docker-Content-Digest`) while writing.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [registry, repository, digest, out] = args.as_slice() else {
        return Err("usage: oci-client-peer REGISTRY_URL REPOSITORY DIGEST OUT".into());
    };
    let (scheme, host) = registry
        .split_once("://")
        .ok_or("REGISTRY_URL names no scheme")?;
    let protocol = match scheme {
        "http" => ClientProtocol::Http,
        _ => ClientProtocol::Https,
    };
    let client = Client::new(ClientConfig {
        protocol,
        ..Default::default()
    });
    let reference = Reference::with_digest(host.to_owned(), repository.clone(), digest.clone());
    client
        .store_auth_if_needed(host, &RegistryAuth::Anonymous)
        .await;
    let mut file = tokio::fs::File::create(out).await?;
    client
        .pull_blob(&reference, digest.as_str(), &mut file)
        .await?;
    tokio::io::AsyncWriteExt::flush(&mut file).await?;
    Ok(())
}
