//! When to try a request again, and how long to wait first.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

/// How the client retries throttled and failed requests.
///
/// Retried: 408, 429, 500, 502, 503, 504 and connection failures, with exponential backoff
/// and jitter, or after the delay the registry asks for (`Retry-After`, `retry-after-ms`).
/// A request whose body cannot be replayed (a stream) is never sent twice, and `POST` and
/// `PATCH` are repeated only where the operation is safe to repeat.
///
/// ```
/// use std::time::Duration;
/// let retry = acr::RetryOptions::default()
///     .max_retries(5)
///     .initial_delay(Duration::from_millis(500))
///     .max_total_delay(Duration::from_secs(60));
/// # let _ = retry;
/// ```
#[derive(Debug, Clone)]
pub struct RetryOptions {
    pub(crate) max_retries: u32,
    pub(crate) initial_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_total_delay: Duration,
}

impl Default for RetryOptions {
    /// Three retries, starting at 800 ms, at most 60 s apart and 120 s in all.
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(60),
            max_total_delay: Duration::from_secs(120),
        }
    }
}

impl RetryOptions {
    /// No retries at all.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// How many times a request may be repeated after its first attempt.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The base of the exponential backoff: the n-th retry waits up to
    /// `initial_delay × 2ⁿ⁻¹`, jittered.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest single wait. A `Retry-After` longer than this ends the retries.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest time spent waiting across all retries of one request.
    pub fn max_total_delay(mut self, delay: Duration) -> Self {
        self.max_total_delay = delay;
        self
    }

    /// The jittered backoff before retry number `retry` (1-based): uniformly in the upper
    /// half of `initial_delay × 2^(retry-1)`, so that clients throttled together do not
    /// come back together.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let ceiling = self
            .initial_delay
            .saturating_mul(factor)
            .min(self.max_delay);
        ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// The retries of one request, or of one upload across its sessions: the one place that
/// decides whether to try again, and after how long.
#[derive(Debug)]
pub(crate) struct Retries<'a> {
    options: &'a RetryOptions,
    count: u32,
    waited: Duration,
}

impl<'a> Retries<'a> {
    pub(crate) fn new(options: &'a RetryOptions) -> Self {
        Self {
            options,
            count: 0,
            waited: Duration::ZERO,
        }
    }

    /// The wait before the next try, `asked` by the registry or the jittered backoff; `None`
    /// when the policy says stop: too many tries, a wait above `max_delay`, or more than
    /// `max_total_delay` waited in all.
    pub(crate) fn next_delay(&mut self, asked: Option<Duration>) -> Option<Duration> {
        self.count += 1;
        let delay = asked.unwrap_or_else(|| self.options.backoff(self.count));
        if self.count > self.options.max_retries
            || delay > self.options.max_delay
            || self.waited + delay > self.options.max_total_delay
        {
            return None;
        }
        self.waited += delay;
        Some(delay)
    }

    /// How many retries were granted so far.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }
}

/// Statuses that say "try again": timeout, throttling, and transient server failures.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// The delay a response asks for: `retry-after-ms`, `x-ms-retry-after-ms`, then
/// `Retry-After` as seconds or as an HTTP date (a date in the past means now).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|v| v.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at =
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(date.timestamp()).unwrap_or(0));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn retry_after_in_seconds_milliseconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37 UTC
        let at = |pairs| retry_after(&headers(pairs), now);
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(at(&[("retry-after", " 0 ")]), Some(Duration::ZERO));
        assert_eq!(
            at(&[("retry-after-ms", "250"), ("retry-after", "9")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            at(&[("x-ms-retry-after-ms", "40")]),
            Some(Duration::from_millis(40))
        );
        assert_eq!(
            at(&[("retry-after", "Sun, 06 Nov 1994 08:49:47 GMT")]),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            at(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
            Some(Duration::ZERO)
        );
        assert_eq!(at(&[("retry-after", "soon")]), None);
        assert_eq!(at(&[("retry-after", "-3")]), None);
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let options = RetryOptions::default()
            .initial_delay(Duration::from_millis(100))
            .max_delay(Duration::from_secs(1));
        for _ in 0..100 {
            let first = options.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = options.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(options.backoff(40) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retryable_statuses() {
        let retryable: Vec<u16> = (100..600)
            .filter(|s| is_retryable_status(StatusCode::from_u16(*s).unwrap()))
            .collect();
        assert_eq!(retryable, [408, 429, 500, 502, 503, 504]);
    }
}
