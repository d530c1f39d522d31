//! Retrying an OTLP/gRPC export: which statuses are worth another attempt
//! and how long to wait, as the OTLP specification's "Failures" section
//! says (<https://opentelemetry.io/docs/specs/otlp/#failures>), with the
//! same policy as opentelemetry-otlp's own gRPC exporters (`[otlp.retry]`:
//! exponential backoff from `initial_delay`, capped at `max_delay`, plus up
//! to `max_jitter`; the whole export, retries included, bounded by the
//! signal's `timeout`).
//!
//! - Retryable: `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`,
//!   `UNAVAILABLE`, `DATA_LOSS`.
//! - `RESOURCE_EXHAUSTED` only with a `google.rpc.RetryInfo` detail (the
//!   server says recovery is possible); `UNAVAILABLE` with a non-zero
//!   `RetryInfo` waits at least that long. A server-requested delay is
//!   capped at 30 s.
//! - Every other status is final.

use std::future::Future;
use std::hash::{BuildHasher as _, RandomState};
use std::time::{Duration, Instant};

use tonic::Code;
use tonic_types::StatusExt as _;

use crate::config::ValidatedRetry;

/// The longest wait a server's `RetryInfo` can ask for.
const LONGEST_THROTTLE: Duration = Duration::from_secs(30);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Give up: the status is final.
    Final,
    /// Try again after the policy's backoff.
    Retry,
    /// Try again after at least this long (the server's `RetryInfo`).
    Throttled(Duration),
}

/// The verdict the OTLP specification gives `status`.
pub(crate) fn classify(status: &tonic::Status) -> Verdict {
    let retry_delay = status.get_details_retry_info().and_then(|info| info.retry_delay);
    classify_code(status.code(), retry_delay)
}

fn classify_code(code: Code, retry_delay: Option<Duration>) -> Verdict {
    match code {
        Code::ResourceExhausted => match retry_delay {
            Some(delay) => Verdict::Throttled(delay.min(LONGEST_THROTTLE)),
            None => Verdict::Final,
        },
        Code::Unavailable => match retry_delay.filter(|delay| !delay.is_zero()) {
            Some(delay) => Verdict::Throttled(delay.min(LONGEST_THROTTLE)),
            None => Verdict::Retry,
        },
        Code::Cancelled | Code::DeadlineExceeded | Code::Aborted | Code::OutOfRange | Code::DataLoss => Verdict::Retry,
        _ => Verdict::Final,
    }
}

/// Up to `max_jitter`, different on every call.
fn jitter(max_jitter: Duration) -> Duration {
    let max_ms = u64::try_from(max_jitter.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    let random = RandomState::new().hash_one(Instant::now());
    Duration::from_millis(random % max_ms.saturating_add(1))
}

/// Runs `attempt` until it succeeds, its status is final, the retries run
/// out, or the next wait would end past `deadline` (measured from the
/// first attempt); returns the last status then. Each attempt is given
/// what is left of `deadline` (the attempt bounds itself by it, so that
/// the whole export, retries included, ends within `deadline`). Waits on
/// tokio's timer (call it inside a tokio runtime).
pub(crate) async fn with_backoff<T, F, Fut>(
    policy: &ValidatedRetry,
    deadline: Duration,
    mut attempt: F,
) -> Result<T, tonic::Status>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let started = Instant::now();
    let mut retries = 0;
    let mut delay = policy.initial_delay;
    let mut cap = policy.max_delay;
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        let status = match attempt(left).await {
            Ok(done) => return Ok(done),
            Err(status) => status,
        };
        if retries >= policy.max_retries || started.elapsed() >= deadline {
            return Err(status);
        }
        match classify(&status) {
            Verdict::Final => return Err(status),
            Verdict::Retry => {}
            Verdict::Throttled(asked) => {
                if asked > cap {
                    cap = LONGEST_THROTTLE;
                }
                delay = delay.max(asked);
            }
        }
        retries += 1;
        let wait = delay.saturating_add(jitter(policy.max_jitter)).min(cap);
        if wait >= deadline.saturating_sub(started.elapsed()) {
            return Err(status);
        }
        tokio::time::sleep(wait).await;
        delay = delay.saturating_mul(2).min(cap);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn policy(max_retries: usize, initial_ms: u64, max_ms: u64) -> ValidatedRetry {
        ValidatedRetry {
            max_retries,
            initial_delay: Duration::from_millis(initial_ms),
            max_delay: Duration::from_millis(max_ms),
            max_jitter: Duration::ZERO,
        }
    }

    #[test]
    fn statuses_are_classified_as_the_otlp_specification_says() {
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert_eq!(classify(&tonic::Status::new(code, "x")), Verdict::Retry, "{code:?}");
        }
        for code in [
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::FailedPrecondition,
            Code::Unimplemented,
            Code::Internal,
            Code::Unauthenticated,
            Code::ResourceExhausted,
        ] {
            assert_eq!(classify(&tonic::Status::new(code, "x")), Verdict::Final, "{code:?}");
        }
    }

    #[test]
    fn retry_info_throttles_resource_exhausted_and_unavailable() {
        use tonic_types::{ErrorDetails, StatusExt as _};
        let with_delay = |code, secs| {
            let details = ErrorDetails::with_retry_info(Some(Duration::from_secs(secs)));
            tonic::Status::with_error_details(code, "slow down", details)
        };
        assert_eq!(
            classify(&with_delay(Code::ResourceExhausted, 2)),
            Verdict::Throttled(Duration::from_secs(2))
        );
        assert_eq!(
            classify(&with_delay(Code::Unavailable, 3)),
            Verdict::Throttled(Duration::from_secs(3))
        );
        assert_eq!(classify(&with_delay(Code::Unavailable, 0)), Verdict::Retry);
        assert_eq!(
            classify(&with_delay(Code::ResourceExhausted, 3_600)),
            Verdict::Throttled(LONGEST_THROTTLE)
        );
        assert_eq!(classify(&with_delay(Code::InvalidArgument, 1)), Verdict::Final);
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(7)) <= Duration::from_millis(7));
        }
        assert!(jitter(Duration::MAX) <= Duration::from_millis(u64::MAX));
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn retries_retryable_statuses_then_succeeds() {
        let attempts = AtomicUsize::new(0);
        let started = Instant::now();
        let result = run(with_backoff(&policy(3, 20, 1_000), Duration::from_secs(10), |_| {
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(tonic::Status::unavailable("down"))
                } else {
                    Ok(n)
                }
            }
        }));
        assert_eq!(result.ok(), Some(2));
        // 20 ms, then 40 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(60),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_final_status_is_tried_once() {
        let attempts = AtomicUsize::new(0);
        let result: Result<(), _> = run(with_backoff(&policy(3, 1, 10), Duration::from_secs(10), |_| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err(tonic::Status::invalid_argument("bad")) }
        }));
        assert_eq!(result.map_err(|s| s.code()), Err(Code::InvalidArgument));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn retries_run_out() {
        let attempts = AtomicUsize::new(0);
        let result: Result<(), _> = run(with_backoff(&policy(2, 1, 10), Duration::from_secs(10), |_| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err(tonic::Status::unavailable("down")) }
        }));
        assert!(result.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        let attempts = AtomicUsize::new(0);
        let _ = run(with_backoff(&policy(0, 1, 10), Duration::from_secs(10), |_| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(tonic::Status::unavailable("down")) }
        }));
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "max_retries = 0 turns retrying off");
    }

    #[test]
    fn each_attempt_is_given_what_is_left_of_the_deadline() {
        let given = std::sync::Mutex::new(Vec::new());
        let _: Result<(), _> = run(with_backoff(&policy(3, 100, 100), Duration::from_secs(1), |left| {
            given.lock().unwrap().push(left);
            async { Err(tonic::Status::unavailable("down")) }
        }));
        let given = given.into_inner().unwrap();
        assert_eq!(given.len(), 4, "{given:?}");
        assert!(given[0] <= Duration::from_secs(1) && given[0] > Duration::from_millis(900));
        for pair in given.windows(2) {
            assert!(pair[0] - pair[1] >= Duration::from_millis(100), "{given:?}");
        }
    }

    #[test]
    fn no_wait_ends_past_the_deadline() {
        let attempts = AtomicUsize::new(0);
        let started = Instant::now();
        let result: Result<(), _> = run(with_backoff(&policy(10, 400, 400), Duration::from_millis(500), |_| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err(tonic::Status::unavailable("down")) }
        }));
        assert!(result.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
}
