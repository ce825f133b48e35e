//! Paging and ordering of lists.

use crate::http::{Resp, error};

/// Default page size of every list, like ACR's.
pub(super) const DEFAULT_PAGE: usize = 100;

/// Ordering of ACR metadata lists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    Name,
    TimeDesc,
    TimeAsc,
}

pub(super) fn order(req: &crate::http::Req) -> Order {
    match req.query("orderby") {
        Some("timedesc") => Order::TimeDesc,
        Some("timeasc") => Order::TimeAsc,
        _ => Order::Name,
    }
}

/// Cuts one page out of `items` (already sorted). Name-ordered lists continue after `last`
/// lexically, as in the distribution spec; time-ordered ones after the item named `last`.
/// Returns the page and the key of its last item when more items follow.
pub(super) fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    by_name: bool,
    last: Option<&str>,
    n: Option<usize>,
) -> (Vec<T>, Option<String>) {
    let mut items: Vec<T> = match last.filter(|l| !l.is_empty()) {
        None => items,
        Some(last) if by_name => items.into_iter().filter(|i| key(i) > last).collect(),
        Some(last) => {
            let mut seen = false;
            items
                .into_iter()
                .filter(|i| {
                    if seen {
                        return true;
                    }
                    if key(i) == last {
                        seen = true;
                    }
                    false
                })
                .collect()
        }
    };
    let n = n.unwrap_or(DEFAULT_PAGE);
    if items.len() > n {
        items.truncate(n);
        let next = items.last().map(|i| key(i).to_string());
        (items, next)
    } else {
        (items, None)
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
    fn pages_by_name_and_position() {
        let items = vec!["a".to_string(), "b".into(), "c".into()];
        let (page, next) = paginate(items.clone(), |s| s.as_str(), true, None, Some(2));
        assert_eq!(
            (page, next),
            (vec!["a".to_string(), "b".into()], Some("b".into()))
        );
        let (page, next) = paginate(items.clone(), |s| s.as_str(), true, Some("b"), Some(2));
        assert_eq!((page, next), (vec!["c".to_string()], None));
        let reversed = vec!["c".to_string(), "b".into(), "a".into()];
        let (page, _) = paginate(reversed, |s| s.as_str(), false, Some("c"), Some(5));
        assert_eq!(page, vec!["b".to_string(), "a".into()]);
    }
}
