//! Summary figures over a sliding window of Aureus kernel events.
//!
//! [`SummaryWindow`] keeps success rate, mean time to recovery (MTTR), escalation rate, cost per
//! success and plain counts **incrementally**: each event is added to a fixed-width time bucket,
//! and a [`Summary`] over any window up to the retention is computed from the buckets that overlap
//! it. Memory stays bounded: at most `retention / bucket + 2` buckets, at most 256 task types per
//! bucket (further ones are aggregated under `"(overflow)"`) and at most 100,000 open failure
//! episodes.
//!
//! ## Time
//!
//! Times are kept in whole milliseconds since the Unix epoch (times before the epoch count as the
//! epoch). The window keeps a *head*: the latest event time it has recorded. Buckets and open
//! episodes older than `head - retention` are dropped, and events older than that are ignored, so
//! replays of old logs through [`SummaryWindow::record_at`] work as long as they are roughly in
//! order. An event stamped in the future (after the wall clock) is counted at the wall clock's
//! current time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Retention the crate uses by default: figures can be asked for up to 7 days back.
const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Bucket width the crate uses by default: 10 seconds.
const DEFAULT_BUCKET: Duration = Duration::from_secs(10);

/// Most open failure episodes (one per `(workflow_id, task_id)` with an unrecovered failure)
/// kept at once; when full, the oldest is evicted and counted in `SummaryWindow::evicted_episodes`.
const MAX_OPEN_EPISODES: usize = 100_000;

/// Most distinct task types kept per bucket; the step ends of further task types in the same
/// bucket are aggregated under `OVERFLOW_TASK_TYPE`.
const MAX_TASK_TYPES_PER_BUCKET: usize = 256;

/// Task type under which step ends are aggregated once a bucket holds `MAX_TASK_TYPES_PER_BUCKET`
/// task types.
const OVERFLOW_TASK_TYPE: &str = "(overflow)";

/// One Aureus event as the summary needs it (borrowed; the caller owns the strings).
#[derive(Debug, Clone, Copy)]
pub enum SummaryEvent<'a> {
    /// A `step_end` event: one attempt of a task finished.
    StepEnd {
        /// Workflow the task belongs to.
        workflow_id: &'a str,
        /// Task within the workflow; `(workflow_id, task_id)` identifies a failure episode.
        task_id: &'a str,
        /// Kind of task (`action`, `query`, …); the key of per-task-type figures.
        task_type: &'a str,
        /// Whether the step succeeded.
        success: bool,
        /// How long the step took, in milliseconds. Negative or non-finite values are left out of
        /// the cost per success (the step is still counted).
        duration_ms: f64,
    },
    /// A `policy_check` event.
    PolicyCheck {
        /// Whether the policy allowed the action (`false` counts as a denial).
        allowed: bool,
        /// Whether a human had to approve (counts as an escalation).
        requires_human_approval: bool,
    },
    /// A `crv_result` event; a CRV failure is one with `blocked = true`.
    CrvResult {
        /// Whether the result blocked the action.
        blocked: bool,
    },
    /// A `rollback` event.
    Rollback,
    /// An `llm_response` event carrying `cost_usd` (from the price table or the event).
    LlmCost {
        /// The call's cost in US dollars (negative or non-finite values are left out).
        cost_usd: f64,
    },
    /// Any other Aureus event; only counted in [`Summary::events`].
    Other,
}

/// Summary figures over one window, as returned by [`SummaryWindow::summary`].
///
/// Rates are `None` when their denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Length of the window actually used, in milliseconds (clamped to the retention).
    pub window_ms: u64,
    /// The task type the step-end figures are restricted to, if any.
    pub task_type: Option<String>,
    /// Successful step ends / all step ends; `None` without step ends.
    pub success_rate: Option<f64>,
    /// Figures per task type seen in the window (only the filtered one when filtering).
    pub success_rate_by_task_type: BTreeMap<String, TaskTypeFigures>,
    /// Mean time to recovery in milliseconds; 0 when no recovery happened in the window.
    pub mttr_ms: f64,
    /// Recoveries (first failure → next success of the same task) completed in the window.
    pub recoveries: u64,
    /// Policy checks requiring human approval / all policy checks; `None` without policy checks.
    pub escalation_rate: Option<f64>,
    /// Mean `duration_ms` of successful step ends; `None` without (validly timed) successes.
    pub cost_per_success_ms: Option<f64>,
    /// US dollars spent on LLM calls in the window (the `cost_usd` of
    /// `llm_response` events; never filtered by task type).
    pub llm_cost_usd: f64,
    /// [`llm_cost_usd`](Self::llm_cost_usd) / successful step ends (of the
    /// filtered task type, when filtering); `None` without successes.
    pub cost_per_success_usd: Option<f64>,
    /// Step ends in the window.
    pub step_ends: u64,
    /// Successful step ends.
    pub successes: u64,
    /// Failed step ends.
    pub failures: u64,
    /// CRV results with `blocked = true`.
    pub crv_failures: u64,
    /// Policy checks.
    pub policy_checks: u64,
    /// Policy checks with `allowed = false`.
    pub policy_denials: u64,
    /// Policy checks with `requires_human_approval = true`.
    pub escalations: u64,
    /// Rollbacks.
    pub rollbacks: u64,
    /// Every recorded event of any kind (never filtered by task type).
    pub events: u64,
}

/// Step-end figures of one task type within a [`Summary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskTypeFigures {
    /// Step ends of this task type.
    pub total: u64,
    /// Successful step ends of this task type.
    pub successes: u64,
    /// `successes / total`.
    pub success_rate: f64,
    /// Mean time to recovery of recoveries attributed to this task type; 0 when none.
    pub mttr_ms: f64,
    /// Mean `duration_ms` of successful step ends of this task type.
    pub cost_per_success_ms: Option<f64>,
}

/// Summary figures kept incrementally over a sliding window of Aureus events.
///
/// Cheap to share between threads (`Send + Sync`, one short mutex-protected update per event).
/// Memory stays bounded: at most `retention / bucket + 2` buckets and 100,000 open failure
/// episodes. Old data is dropped relative to the latest recorded event time, so replays of old
/// logs through [`record_at`](Self::record_at) work when roughly in order.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use aureus_observability::metrics::{SummaryEvent, SummaryWindow};
///
/// let window = SummaryWindow::new(Duration::from_secs(7 * 24 * 3600), Duration::from_secs(10));
/// let step = |success| SummaryEvent::StepEnd {
///     workflow_id: "wf-1", task_id: "t1", task_type: "action", success, duration_ms: 250.0,
/// };
/// let t0 = SystemTime::now() - Duration::from_secs(60);
/// window.record_at(step(false), t0);
/// window.record_at(step(true), t0 + Duration::from_secs(2));
///
/// let summary = window.summary(Duration::from_secs(300), None);
/// assert_eq!(summary.success_rate, Some(0.5));
/// assert_eq!(summary.mttr_ms, 2000.0);
/// assert_eq!(summary.recoveries, 1);
/// ```
#[derive(Debug)]
pub struct SummaryWindow {
    inner: Mutex<Inner>,
}

impl SummaryWindow {
    /// Creates an empty window.
    ///
    /// `retention`: how far back figures can be asked for (the crate's default is 7 days);
    /// `bucket`: aggregation granularity (the crate's default is 10 s; below 1 ms counts as 1 ms).
    /// Figures over a window are computed from the buckets whose time range overlaps
    /// `[now - window, now]`, so a window's edges are precise to one bucket. At most 256 task
    /// types are kept per bucket; step ends of further task types in the same bucket are
    /// aggregated under the task type `"(overflow)"`.
    #[must_use]
    pub fn new(retention: Duration, bucket: Duration) -> Self {
        Self::with_episode_cap(retention, bucket, MAX_OPEN_EPISODES)
    }

    fn with_episode_cap(retention: Duration, bucket: Duration, episode_cap: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::new(millis(retention), millis(bucket).max(1), episode_cap)),
        }
    }

    /// Records `event` at the current wall-clock time.
    pub fn record(&self, event: SummaryEvent<'_>) {
        self.record_at(event, SystemTime::now());
    }

    /// Records `event` at time `at` (tests, replays).
    ///
    /// A time after the wall clock is counted as now; a time older than the retention (measured
    /// from the latest recorded time) is ignored.
    pub fn record_at(&self, event: SummaryEvent<'_>, at: SystemTime) {
        let at_ms = epoch_millis(at).min(epoch_millis(SystemTime::now()));
        self.lock().record(event, at_ms);
    }

    /// Figures over the last `window` (clamped to the retention) as of now.
    ///
    /// With `task_type = Some(..)`, every figure that has a task type — success rate, MTTR,
    /// recoveries, cost per success, `step_ends`, `successes`, `failures` and the per-type map —
    /// is restricted to it; figures without one (policy checks, escalations, denials, CRV
    /// failures, rollbacks, events) stay global.
    #[must_use]
    pub fn summary(&self, window: Duration, task_type: Option<&str>) -> Summary {
        self.summary_at(window, task_type, SystemTime::now())
    }

    /// Figures over `[now - window, now]` (window clamped to the retention); filtering by
    /// `task_type` works as in [`summary`](Self::summary).
    #[must_use]
    pub fn summary_at(&self, window: Duration, task_type: Option<&str>, now: SystemTime) -> Summary {
        self.lock().summary(millis(window), task_type, epoch_millis(now))
    }

    /// Open failure episodes evicted so far because 100,000 were open at once (the oldest is
    /// evicted; its eventual recovery is not measured).
    #[must_use]
    pub fn evicted_episodes(&self) -> u64 {
        self.lock().episodes.evicted
    }

    #[cfg(test)]
    fn bucket_count(&self) -> usize {
        self.lock().buckets.len()
    }

    #[cfg(test)]
    fn open_episodes(&self) -> usize {
        self.lock().episodes.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock, but a poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for SummaryWindow {
    /// A window with the crate's defaults: 7 days of retention, 10 s buckets.
    fn default() -> Self {
        Self::new(DEFAULT_RETENTION, DEFAULT_BUCKET)
    }
}

/// Everything behind the mutex.
#[derive(Debug)]
struct Inner {
    bucket_ms: u64,
    retention_ms: u64,
    /// Latest (clamped) event time recorded.
    head_ms: u64,
    /// Buckets keyed by their start time in ms since the epoch.
    buckets: BTreeMap<u64, Bucket>,
    episodes: Episodes,
}

impl Inner {
    fn new(retention_ms: u64, bucket_ms: u64, episode_cap: usize) -> Self {
        Self {
            bucket_ms,
            retention_ms,
            head_ms: 0,
            buckets: BTreeMap::new(),
            episodes: Episodes::new(episode_cap),
        }
    }

    fn bucket_start(&self, at_ms: u64) -> u64 {
        at_ms - at_ms % self.bucket_ms
    }

    fn record(&mut self, event: SummaryEvent<'_>, at_ms: u64) {
        self.head_ms = self.head_ms.max(at_ms);
        let cutoff_ms = self.head_ms.saturating_sub(self.retention_ms);
        self.prune(cutoff_ms);
        if at_ms < cutoff_ms {
            return;
        }
        let recovery_ms = self.track_episode(&event, at_ms);
        let start = self.bucket_start(at_ms);
        self.buckets.entry(start).or_default().add(&event, recovery_ms);
    }

    /// Opens or closes the failure episode of a step end; returns the recovery time it completes.
    fn track_episode(&mut self, event: &SummaryEvent<'_>, at_ms: u64) -> Option<u64> {
        match *event {
            SummaryEvent::StepEnd {
                workflow_id,
                task_id,
                success: true,
                ..
            } => self.episodes.on_success(workflow_id, task_id, at_ms),
            SummaryEvent::StepEnd {
                workflow_id,
                task_id,
                success: false,
                ..
            } => {
                self.episodes.on_failure(workflow_id, task_id, at_ms);
                None
            }
            _ => None,
        }
    }

    /// Drops buckets entirely before `cutoff_ms` and episodes that started before it.
    fn prune(&mut self, cutoff_ms: u64) {
        while let Some(entry) = self.buckets.first_entry() {
            if entry.key().saturating_add(self.bucket_ms) > cutoff_ms {
                break;
            }
            entry.remove();
        }
        self.episodes.drop_started_before(cutoff_ms);
    }

    fn summary(&self, window_ms: u64, task_type: Option<&str>, now_ms: u64) -> Summary {
        let window_ms = window_ms.min(self.retention_ms);
        let first = self.bucket_start(now_ms.saturating_sub(window_ms));
        let last = self.bucket_start(now_ms);
        let mut counts = Counts::default();
        let mut by_type: BTreeMap<&str, StepFigures> = BTreeMap::new();
        for bucket in self.buckets.range(first..=last).map(|(_, bucket)| bucket) {
            counts.add(&bucket.counts);
            for (name, figures) in bucket.steps_matching(task_type) {
                by_type.entry(name).or_default().add(figures);
            }
        }
        build_summary(window_ms, task_type, &counts, &by_type)
    }
}

/// Counts of events that have no task type.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    events: u64,
    policy_checks: u64,
    policy_denials: u64,
    escalations: u64,
    crv_failures: u64,
    rollbacks: u64,
    llm_cost_usd: f64,
}

impl Counts {
    fn add(&mut self, other: &Self) {
        self.events += other.events;
        self.policy_checks += other.policy_checks;
        self.policy_denials += other.policy_denials;
        self.escalations += other.escalations;
        self.crv_failures += other.crv_failures;
        self.rollbacks += other.rollbacks;
        self.llm_cost_usd += other.llm_cost_usd;
    }
}

/// Step-end figures of one task type (in one bucket, or summed over a window).
#[derive(Debug, Default, Clone, Copy)]
struct StepFigures {
    step_ends: u64,
    successes: u64,
    /// Successes with a valid (finite, non-negative) duration.
    timed_successes: u64,
    success_duration_sum_ms: f64,
    recoveries: u64,
    recovery_sum_ms: f64,
}

impl StepFigures {
    fn add(&mut self, other: &Self) {
        self.step_ends += other.step_ends;
        self.successes += other.successes;
        self.timed_successes += other.timed_successes;
        self.success_duration_sum_ms += other.success_duration_sum_ms;
        self.recoveries += other.recoveries;
        self.recovery_sum_ms += other.recovery_sum_ms;
    }

    fn add_step(&mut self, success: bool, duration_ms: f64, recovery_ms: Option<u64>) {
        self.step_ends += 1;
        if success {
            self.successes += 1;
            if duration_ms.is_finite() && duration_ms >= 0.0 {
                self.timed_successes += 1;
                self.success_duration_sum_ms += duration_ms;
            }
        }
        if let Some(recovery_ms) = recovery_ms {
            self.recoveries += 1;
            self.recovery_sum_ms += recovery_ms as f64;
        }
    }

    fn failures(&self) -> u64 {
        self.step_ends.saturating_sub(self.successes)
    }

    fn mttr_ms(&self) -> f64 {
        ratio(self.recovery_sum_ms, self.recoveries).unwrap_or(0.0)
    }

    fn cost_per_success_ms(&self) -> Option<f64> {
        ratio(self.success_duration_sum_ms, self.timed_successes)
    }

    fn to_task_type_figures(self) -> TaskTypeFigures {
        TaskTypeFigures {
            total: self.step_ends,
            successes: self.successes,
            success_rate: ratio(self.successes as f64, self.step_ends).unwrap_or(0.0),
            mttr_ms: self.mttr_ms(),
            cost_per_success_ms: self.cost_per_success_ms(),
        }
    }
}

/// Everything recorded in one bucket's time range.
#[derive(Debug, Default)]
struct Bucket {
    counts: Counts,
    steps: HashMap<String, StepFigures>,
}

impl Bucket {
    fn add(&mut self, event: &SummaryEvent<'_>, recovery_ms: Option<u64>) {
        self.counts.events += 1;
        match *event {
            SummaryEvent::StepEnd {
                task_type,
                success,
                duration_ms,
                ..
            } => self.with_steps(task_type, |figures| figures.add_step(success, duration_ms, recovery_ms)),
            SummaryEvent::PolicyCheck {
                allowed,
                requires_human_approval,
            } => {
                self.counts.policy_checks += 1;
                self.counts.policy_denials += u64::from(!allowed);
                self.counts.escalations += u64::from(requires_human_approval);
            }
            SummaryEvent::CrvResult { blocked } => self.counts.crv_failures += u64::from(blocked),
            SummaryEvent::Rollback => self.counts.rollbacks += 1,
            SummaryEvent::LlmCost { cost_usd } => {
                if cost_usd.is_finite() && cost_usd >= 0.0 {
                    self.counts.llm_cost_usd += cost_usd;
                }
            }
            SummaryEvent::Other => {}
        }
    }

    /// Applies `update` to the figures of `task_type`, or of `OVERFLOW_TASK_TYPE` when the bucket
    /// already holds `MAX_TASK_TYPES_PER_BUCKET` other task types.
    fn with_steps(&mut self, task_type: &str, update: impl FnOnce(&mut StepFigures)) {
        if let Some(figures) = self.steps.get_mut(task_type) {
            update(figures);
            return;
        }
        let key = if self.steps.len() < MAX_TASK_TYPES_PER_BUCKET {
            task_type
        } else {
            OVERFLOW_TASK_TYPE
        };
        update(self.steps.entry(key.to_owned()).or_default());
    }

    fn steps_matching<'s>(&'s self, task_type: Option<&'s str>) -> impl Iterator<Item = (&'s str, &'s StepFigures)> {
        self.steps
            .iter()
            .filter(move |(name, _)| task_type.is_none_or(|wanted| wanted == name.as_str()))
            .map(|(name, figures)| (name.as_str(), figures))
    }
}

fn build_summary(
    window_ms: u64,
    task_type: Option<&str>,
    counts: &Counts,
    by_type: &BTreeMap<&str, StepFigures>,
) -> Summary {
    let mut total = StepFigures::default();
    for figures in by_type.values() {
        total.add(figures);
    }
    Summary {
        window_ms,
        task_type: task_type.map(str::to_owned),
        success_rate: ratio(total.successes as f64, total.step_ends),
        success_rate_by_task_type: by_type
            .iter()
            .map(|(name, figures)| ((*name).to_owned(), figures.to_task_type_figures()))
            .collect(),
        mttr_ms: total.mttr_ms(),
        recoveries: total.recoveries,
        escalation_rate: ratio(counts.escalations as f64, counts.policy_checks),
        cost_per_success_ms: total.cost_per_success_ms(),
        llm_cost_usd: counts.llm_cost_usd,
        cost_per_success_usd: (total.successes > 0).then(|| counts.llm_cost_usd / total.successes as f64),
        step_ends: total.step_ends,
        successes: total.successes,
        failures: total.failures(),
        crv_failures: counts.crv_failures,
        policy_checks: counts.policy_checks,
        policy_denials: counts.policy_denials,
        escalations: counts.escalations,
        rollbacks: counts.rollbacks,
        events: counts.events,
    }
}

/// An unrecovered failure of one `(workflow_id, task_id)`.
#[derive(Debug, Clone, Copy)]
struct OpenEpisode {
    first_failure_ms: u64,
    /// Tie-breaker making age keys unique.
    seq: u64,
}

impl OpenEpisode {
    fn age_key(self) -> (u64, u64) {
        (self.first_failure_ms, self.seq)
    }
}

/// Open failure episodes, bounded, with an index by age for eviction and expiry.
#[derive(Debug)]
struct Episodes {
    cap: usize,
    /// `workflow_id` → `task_id` → episode (nested so lookups need no allocation).
    open: HashMap<String, HashMap<String, OpenEpisode>>,
    /// (first failure ms, seq) → (`workflow_id`, `task_id`); same entries as `open`.
    by_age: BTreeMap<(u64, u64), (String, String)>,
    next_seq: u64,
    evicted: u64,
}

impl Episodes {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            open: HashMap::new(),
            by_age: BTreeMap::new(),
            next_seq: 0,
            evicted: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_age.len()
    }

    fn get_mut(&mut self, workflow_id: &str, task_id: &str) -> Option<&mut OpenEpisode> {
        self.open.get_mut(workflow_id)?.get_mut(task_id)
    }

    /// Opens an episode, or moves an open one's start earlier when a replay delivers an earlier
    /// failure late.
    fn on_failure(&mut self, workflow_id: &str, task_id: &str, at_ms: u64) {
        if let Some(episode) = self.get_mut(workflow_id, task_id) {
            if at_ms < episode.first_failure_ms {
                let old_key = episode.age_key();
                episode.first_failure_ms = at_ms;
                let new_key = episode.age_key();
                if let Some(ids) = self.by_age.remove(&old_key) {
                    self.by_age.insert(new_key, ids);
                }
            }
            return;
        }
        self.open_new(workflow_id, task_id, at_ms);
    }

    fn open_new(&mut self, workflow_id: &str, task_id: &str, at_ms: u64) {
        while self.by_age.len() >= self.cap {
            if !self.evict_oldest() {
                return;
            }
        }
        let episode = OpenEpisode {
            first_failure_ms: at_ms,
            seq: self.next_seq,
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        self.by_age
            .insert(episode.age_key(), (workflow_id.to_owned(), task_id.to_owned()));
        self.open
            .entry(workflow_id.to_owned())
            .or_default()
            .insert(task_id.to_owned(), episode);
    }

    /// Closes the open episode of `(workflow_id, task_id)` and returns its recovery time. A success
    /// that predates the first failure (out-of-order replay) does not close it.
    fn on_success(&mut self, workflow_id: &str, task_id: &str, at_ms: u64) -> Option<u64> {
        let episode = *self.get_mut(workflow_id, task_id)?;
        if at_ms < episode.first_failure_ms {
            return None;
        }
        self.by_age.remove(&episode.age_key());
        self.remove_open(workflow_id, task_id);
        Some(at_ms - episode.first_failure_ms)
    }

    fn evict_oldest(&mut self) -> bool {
        match self.by_age.pop_first() {
            Some((_, (workflow_id, task_id))) => {
                self.remove_open(&workflow_id, &task_id);
                self.evicted += 1;
                true
            }
            None => false,
        }
    }

    fn drop_started_before(&mut self, cutoff_ms: u64) {
        while let Some(entry) = self.by_age.first_entry() {
            if entry.key().0 >= cutoff_ms {
                break;
            }
            let (workflow_id, task_id) = entry.remove();
            self.remove_open(&workflow_id, &task_id);
        }
    }

    fn remove_open(&mut self, workflow_id: &str, task_id: &str) {
        if let Some(tasks) = self.open.get_mut(workflow_id) {
            tasks.remove(task_id);
            if tasks.is_empty() {
                self.open.remove(workflow_id);
            }
        }
    }
}

/// `numerator / denominator`, or `None` when the denominator is zero.
fn ratio(numerator: f64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator / denominator as f64)
}

/// A duration in whole milliseconds, saturating at `u64::MAX`.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch; times before the epoch count as the epoch.
fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    /// A fixed time well in the past (2023-11-14), so nothing is clamped as "future".
    fn base() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn window() -> SummaryWindow {
        SummaryWindow::new(30 * DAY, 10 * SECOND)
    }

    fn step<'a>(task_id: &'a str, task_type: &'a str, success: bool, duration_ms: f64) -> SummaryEvent<'a> {
        SummaryEvent::StepEnd {
            workflow_id: "wf",
            task_id,
            task_type,
            success,
            duration_ms,
        }
    }

    fn all(window: &SummaryWindow, at: SystemTime) -> Summary {
        window.summary_at(DAY, None, at)
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn success_rate_by_task_type() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "action", true, 10.0), t);
        w.record_at(step("t2", "action", true, 10.0), t);
        w.record_at(step("t3", "action", false, 10.0), t);
        w.record_at(step("t1", "query", true, 10.0), t);
        let s = all(&w, t);
        assert_close(s.success_rate_by_task_type["action"].success_rate, 2.0 / 3.0);
        assert_eq!(s.success_rate_by_task_type["action"].total, 3);
        assert_eq!(s.success_rate_by_task_type["action"].successes, 2);
        assert_close(s.success_rate_by_task_type["query"].success_rate, 1.0);
        assert_close(s.success_rate.unwrap_or(f64::NAN), 0.75);
        assert_eq!((s.step_ends, s.successes, s.failures), (4, 3, 1));

        let filtered = w.summary_at(DAY, Some("action"), t);
        assert_eq!(filtered.task_type.as_deref(), Some("action"));
        assert!(!filtered.success_rate_by_task_type.contains_key("query"));
        assert_eq!(filtered.success_rate_by_task_type.len(), 1);
        assert_close(filtered.success_rate.unwrap_or(f64::NAN), 2.0 / 3.0);
        assert_eq!((filtered.step_ends, filtered.successes, filtered.failures), (3, 2, 1));
    }

    #[test]
    fn filtering_keeps_untyped_figures_global() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "query", true, 10.0), t);
        w.record_at(SummaryEvent::Rollback, t);
        w.record_at(
            SummaryEvent::PolicyCheck {
                allowed: false,
                requires_human_approval: true,
            },
            t,
        );
        let s = w.summary_at(DAY, Some("action"), t);
        assert_eq!(s.success_rate, None);
        assert_eq!(s.step_ends, 0);
        assert!(s.success_rate_by_task_type.is_empty());
        assert_eq!(
            (s.rollbacks, s.policy_checks, s.policy_denials, s.escalations),
            (1, 1, 1, 1)
        );
        assert_eq!(s.events, 3);
    }

    #[test]
    fn mttr_measures_failure_to_next_success() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "action", false, 5.0), t);
        w.record_at(step("t1", "action", true, 5.0), t + Duration::from_millis(1000));
        let s = all(&w, t + SECOND);
        assert_close(s.mttr_ms, 1000.0);
        assert_eq!(s.recoveries, 1);
        assert_close(s.success_rate_by_task_type["action"].mttr_ms, 1000.0);
    }

    #[test]
    fn mttr_is_zero_without_recovery() {
        let w = window();
        w.record_at(step("t1", "action", false, 5.0), base());
        let s = all(&w, base());
        assert_close(s.mttr_ms, 0.0);
        assert_eq!(s.recoveries, 0);
        assert_eq!(w.open_episodes(), 1);
    }

    #[test]
    fn mttr_measures_from_first_failure() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "action", false, 5.0), t);
        w.record_at(step("t1", "action", false, 5.0), t + Duration::from_millis(400));
        w.record_at(step("t1", "action", true, 5.0), t + Duration::from_millis(1500));
        let s = all(&w, t + 2 * SECOND);
        assert_close(s.mttr_ms, 1500.0);
        assert_eq!(s.recoveries, 1);
        assert_eq!(w.open_episodes(), 0);
    }

    #[test]
    fn recovery_of_another_task_does_not_mix() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "action", false, 5.0), t);
        w.record_at(step("t2", "action", false, 5.0), t + Duration::from_millis(3000));
        w.record_at(step("t2", "action", true, 5.0), t + Duration::from_millis(3500));
        let s = all(&w, t + 4 * SECOND);
        assert_close(s.mttr_ms, 500.0);
        assert_eq!(s.recoveries, 1);
        // t1 is still open and recovers later on its own.
        w.record_at(step("t1", "action", true, 5.0), t + Duration::from_millis(4000));
        let s = all(&w, t + 5 * SECOND);
        assert_close(s.mttr_ms, (500.0 + 4000.0) / 2.0);
        assert_eq!(s.recoveries, 2);
    }

    #[test]
    fn success_before_any_failure_is_no_recovery() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "action", true, 5.0), t);
        assert_eq!(all(&w, t).recoveries, 0);
    }

    #[test]
    fn out_of_order_replay_never_yields_negative_recovery() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "action", false, 5.0), t + 5 * SECOND);
        w.record_at(step("t1", "action", true, 5.0), t + 2 * SECOND);
        assert_eq!(all(&w, t + 6 * SECOND).recoveries, 0);
        w.record_at(step("t1", "action", false, 5.0), t + SECOND);
        w.record_at(step("t1", "action", true, 5.0), t + 7 * SECOND);
        let s = all(&w, t + 8 * SECOND);
        assert_eq!(s.recoveries, 1);
        assert_close(s.mttr_ms, 6000.0);
    }

    #[test]
    fn escalation_rate() {
        let w = window();
        let t = base();
        for requires_human_approval in [true, false, false] {
            w.record_at(
                SummaryEvent::PolicyCheck {
                    allowed: true,
                    requires_human_approval,
                },
                t,
            );
        }
        let s = all(&w, t);
        assert_close(s.escalation_rate.unwrap_or(f64::NAN), 1.0 / 3.0);
        assert_eq!((s.policy_checks, s.escalations, s.policy_denials), (3, 1, 0));
        assert_eq!(all(&window(), t).escalation_rate, None);
    }

    #[test]
    fn cost_per_success_is_mean_duration_of_successes() {
        let w = window();
        let t = base();
        w.record_at(step("t1", "action", true, 1000.0), t);
        w.record_at(step("t2", "action", true, 2000.0), t);
        w.record_at(step("t3", "action", false, 500.0), t);
        let s = all(&w, t);
        assert_close(s.cost_per_success_ms.unwrap_or(f64::NAN), 1500.0);
        assert_close(
            s.success_rate_by_task_type["action"]
                .cost_per_success_ms
                .unwrap_or(f64::NAN),
            1500.0,
        );
    }

    #[test]
    fn invalid_durations_do_not_poison_cost() {
        let w = window();
        let t = base();
        for duration_ms in [f64::NAN, f64::INFINITY, -3.0, 100.0] {
            w.record_at(step("t1", "action", true, duration_ms), t);
        }
        let s = all(&w, t);
        assert_eq!(s.successes, 4);
        assert_close(s.cost_per_success_ms.unwrap_or(f64::NAN), 100.0);
    }

    #[test]
    fn windows_exclude_old_events() {
        let w = window();
        let now = base();
        w.record_at(SummaryEvent::Other, now - 10 * DAY);
        w.record_at(SummaryEvent::Rollback, now - 5 * MINUTE);
        w.record_at(SummaryEvent::Other, now - 10 * SECOND);
        assert_eq!(w.summary_at(30 * DAY, None, now).events, 3);
        let week = w.summary_at(7 * DAY, None, now);
        assert_eq!(week.events, 2);
        assert_eq!(week.window_ms, millis(7 * DAY));
        let minute = w.summary_at(MINUTE, None, now);
        assert_eq!(minute.events, 1);
        assert_eq!(minute.rollbacks, 0);
    }

    #[test]
    fn window_is_clamped_to_retention() {
        let w = window();
        let s = w.summary_at(100 * DAY, None, base());
        assert_eq!(s.window_ms, millis(30 * DAY));
    }

    #[test]
    fn counts_by_kind() {
        let w = window();
        let t = base();
        let events = [
            SummaryEvent::CrvResult { blocked: true },
            SummaryEvent::CrvResult { blocked: false },
            SummaryEvent::PolicyCheck {
                allowed: false,
                requires_human_approval: false,
            },
            SummaryEvent::PolicyCheck {
                allowed: true,
                requires_human_approval: false,
            },
            SummaryEvent::Rollback,
            SummaryEvent::Rollback,
            SummaryEvent::Other,
            step("t1", "action", true, 1.0),
        ];
        for event in events {
            w.record_at(event, t);
        }
        let s = all(&w, t);
        assert_eq!(s.crv_failures, 1);
        assert_eq!(s.policy_denials, 1);
        assert_eq!(s.policy_checks, 2);
        assert_eq!(s.rollbacks, 2);
        assert_eq!(s.events, 8);
        assert_eq!(s.step_ends, 1);
    }

    #[test]
    fn future_events_count_now_and_too_old_are_ignored() {
        let w = SummaryWindow::new(DAY, 10 * SECOND);
        w.record_at(SummaryEvent::Other, SystemTime::now() + 365 * DAY);
        assert_eq!(w.summary(MINUTE, None).events, 1);
        w.record_at(SummaryEvent::Other, SystemTime::now() - 2 * DAY);
        w.record_at(SummaryEvent::Other, UNIX_EPOCH - DAY);
        w.record_at(SummaryEvent::Other, UNIX_EPOCH);
        assert_eq!(w.summary(DAY, None).events, 1);
        assert_eq!(w.bucket_count(), 1);
    }

    #[test]
    fn edge_durations_never_panic() {
        for (retention, bucket) in [
            (Duration::ZERO, Duration::ZERO),
            (Duration::MAX, Duration::MAX),
            (Duration::from_millis(1), Duration::from_nanos(1)),
            (SECOND, DAY),
        ] {
            let w = SummaryWindow::new(retention, bucket);
            w.record_at(step("t1", "action", false, 1.0), UNIX_EPOCH);
            w.record_at(step("t1", "action", true, 1.0), base());
            w.record(SummaryEvent::Other);
            let _ = w.summary(Duration::MAX, None);
            let _ = w.summary_at(Duration::ZERO, Some("action"), UNIX_EPOCH - DAY);
            assert!(w.bucket_count() <= 3);
        }
    }

    #[test]
    fn old_events_are_pruned_as_time_advances() {
        let w = SummaryWindow::new(MINUTE, 10 * SECOND);
        let t = base();
        w.record_at(step("t1", "action", false, 1.0), t);
        w.record_at(SummaryEvent::Other, t + 2 * MINUTE);
        assert_eq!(w.open_episodes(), 0, "episode older than retention dropped");
        assert_eq!(w.bucket_count(), 1);
        w.record_at(step("t1", "action", true, 1.0), t + 2 * MINUTE);
        assert_eq!(w.summary_at(MINUTE, None, t + 2 * MINUTE).recoveries, 0);
    }

    #[test]
    fn full_episode_map_evicts_oldest() {
        let w = SummaryWindow::with_episode_cap(DAY, SECOND, 2);
        let t = base();
        w.record_at(step("t1", "action", false, 1.0), t);
        w.record_at(step("t2", "action", false, 1.0), t + SECOND);
        w.record_at(step("t3", "action", false, 1.0), t + 2 * SECOND);
        assert_eq!(w.evicted_episodes(), 1);
        assert_eq!(w.open_episodes(), 2);
        w.record_at(step("t1", "action", true, 1.0), t + 3 * SECOND);
        w.record_at(step("t2", "action", true, 1.0), t + 3 * SECOND);
        let s = all(&w, t + 3 * SECOND);
        assert_eq!(s.recoveries, 1, "t1 was evicted, only t2 recovers");
        assert_close(s.mttr_ms, 2000.0);
    }

    #[test]
    fn task_types_per_bucket_are_capped() {
        let w = window();
        let t = base();
        let names: Vec<String> = (0..MAX_TASK_TYPES_PER_BUCKET + 10)
            .map(|i| format!("type-{i}"))
            .collect();
        for name in &names {
            w.record_at(
                SummaryEvent::StepEnd {
                    workflow_id: "wf",
                    task_id: "t",
                    task_type: name,
                    success: true,
                    duration_ms: 1.0,
                },
                t,
            );
        }
        let s = all(&w, t);
        assert_eq!(s.step_ends, names.len() as u64);
        assert_eq!(s.success_rate_by_task_type.len(), MAX_TASK_TYPES_PER_BUCKET + 1);
        assert_eq!(s.success_rate_by_task_type[OVERFLOW_TASK_TYPE].total, 10);
    }

    #[test]
    fn bucket_count_stays_bounded() {
        let retention = Duration::from_secs(3600);
        let bucket = 10 * SECOND;
        let w = SummaryWindow::new(retention, bucket);
        let limit = (retention.as_millis() / bucket.as_millis()) as usize + 2;
        let events = 1_000_000u64;
        let span_ms = 2 * millis(retention);
        let mut max_buckets = 0;
        for i in 0..events {
            let at = base() + Duration::from_millis(i * span_ms / events);
            let task_id = if i % 2 == 0 { "t1" } else { "t2" };
            w.record_at(step(task_id, "action", i % 3 != 0, 1.0), at);
            if i % 1000 == 0 {
                max_buckets = max_buckets.max(w.bucket_count());
            }
        }
        max_buckets = max_buckets.max(w.bucket_count());
        assert!(max_buckets <= limit, "{max_buckets} buckets > {limit}");
        assert!(w.open_episodes() <= 2);
    }

    #[test]
    fn concurrent_recording_is_exact() {
        let w = window();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let w = &w;
                scope.spawn(move || {
                    let task_id = ["t1", "t2", "t3", "t4"][thread];
                    for i in 0..10_000 {
                        w.record(step(task_id, "action", i % 4 != 0, 2.0));
                    }
                });
            }
        });
        let s = w.summary(DAY, None);
        assert_eq!(s.step_ends, 40_000);
        assert_eq!(s.successes, 30_000);
        assert_eq!(s.failures, 10_000);
        assert_eq!(s.events, 40_000);
        assert_close(s.cost_per_success_ms.unwrap_or(f64::NAN), 2.0);
    }

    #[test]
    fn window_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SummaryWindow>();
    }

    #[test]
    fn summary_serializes_in_camel_case() {
        let w = window();
        w.record_at(step("t1", "action", true, 10.0), base());
        let json = serde_json::to_value(all(&w, base())).unwrap_or_default();
        assert_eq!(json["windowMs"], millis(DAY));
        assert_eq!(json["successRate"], 1.0);
        assert_eq!(json["successRateByTaskType"]["action"]["costPerSuccessMs"], 10.0);
        assert_eq!(json["mttrMs"], 0.0);
        assert!(json["taskType"].is_null());
    }
}
