//! progenitor's typed mocks (`acr-rest-httpmock`) match the requests the generated client
//! sends, so downstream tests can describe a registry in the client's own vocabulary.

use acr_rest::{API_VERSION, Client, Inner, types};
use acr_rest_httpmock::MockServerExt;

#[tokio::test(flavor = "multi_thread")]
async fn a_typed_mock_matches_the_generated_request() {
    let server = httpmock::MockServer::start_async().await;
    let tags = types::TagList {
        image_name: Some("hello-world".into()),
        registry: Some("r.azurecr.io".into()),
        link: None,
        tags: Some(vec![]),
    };
    // The typed helpers use httpmock's blocking API.
    let mock = tokio::task::block_in_place(|| {
        server.list_tags(|when, then| {
            when.name("hello-world").api_version(API_VERSION).n(10);
            then.ok(&tags);
        })
    });

    let client =
        Client::new_with_client(&server.base_url(), reqwest::Client::new(), Inner::default());
    let list = client
        .list_tags()
        .name("hello-world")
        .n(10)
        .api_version(API_VERSION)
        .send()
        .await
        .unwrap();

    mock.assert_async().await;
    assert_eq!(list.image_name.as_deref(), Some("hello-world"));
    assert_eq!(list.tags.as_deref().map(<[_]>::len), Some(0));
}
