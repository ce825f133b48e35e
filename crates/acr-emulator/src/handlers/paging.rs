//! Paging and ordering of lists.

use crate::http::{Resp, error};
use crate::index::Order;

/// Default page size of every list, like ACR's.
pub(super) const DEFAULT_PAGE: usize = 100;

pub(super) fn order(req: &crate::http::Req) -> Order {
    match req.query("orderby") {
        Some("timedesc") => Order::TimeDesc,
        Some("timeasc") => Order::TimeAsc,
        _ => Order::Name,
    }
}

/// The `last` query parameter; empty is the same as absent.
pub(super) fn last(req: &crate::http::Req) -> Option<&str> {
    req.query("last").filter(|l| !l.is_empty())
}

/// Cuts one page of at most `n` items (default [`DEFAULT_PAGE`]) from `items`, which
/// already start after the previous page, reading no more than one item past the page.
/// Returns the page and, when more items follow, the key of its last item.
pub(super) fn paginate<T>(
    items: impl Iterator<Item = T>,
    key: impl Fn(&T) -> &str,
    n: Option<usize>,
) -> (Vec<T>, Option<String>) {
    let n = n.unwrap_or(DEFAULT_PAGE);
    let mut page: Vec<T> = items.take(n.saturating_add(1)).collect();
    if page.len() > n {
        page.truncate(n);
        let next = page.last().map(|i| key(i).to_string());
        (page, next)
    } else {
        (page, None)
    }
}

pub(super) fn page_size(req: &crate::http::Req) -> Result<Option<usize>, Resp> {
    match req.query("n").filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) => n.parse::<usize>().map(Some).map_err(|_| {
            error(
                400,
                "PAGINATION_NUMBER_INVALID",
                "invalid number of results requested",
                None,
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stop_at_n_and_name_the_next_start() {
        let items = ["a", "b", "c"];
        let (page, next) = paginate(items.iter(), |s| s, Some(2));
        assert_eq!((page, next), (vec![&"a", &"b"], Some("b".to_string())));
        let (page, next) = paginate(items[2..].iter(), |s| s, Some(2));
        assert_eq!((page, next), (vec![&"c"], None));
        // Exactly n left: no next page, so no empty page is ever linked to.
        let (page, next) = paginate(items.iter(), |s| s, Some(3));
        assert_eq!((page.len(), next), (3, None));
        // n=0 answers an empty list without a link, as the distribution spec asks.
        let (page, next) = paginate(items.iter(), |s| s, Some(0));
        assert_eq!((page.len(), next), (0, None));
    }
}
