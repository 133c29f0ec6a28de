//! A warning (三色预警) and its lifecycle: colours, states, the running deadline, and the
//! history entry every change leaves behind. Pure: the store persists what these methods decide.

use chrono::{DateTime, Duration, Utc};
use shequ_kit::{Error, regions::RegionCode};

use super::Policy;

/// The three colours, ordered from the lowest to the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Colour {
    /// 蓝色, 常规问题.
    Blue,
    /// 黄色, 复杂问题.
    Yellow,
    /// 红色, 重大风险.
    Red,
}

impl Colour {
    /// Every colour, lowest first.
    pub const ALL: [Colour; 3] = [Colour::Blue, Colour::Yellow, Colour::Red];

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Colour::Blue => "BLUE",
            Colour::Yellow => "YELLOW",
            Colour::Red => "RED",
        }
    }

    /// The colour of a stored code.
    pub fn from_code(code: &str) -> Option<Colour> {
        Colour::ALL.into_iter().find(|c| c.code() == code)
    }

    /// What the colour's deadline asks for.
    pub fn deadline_kind(self) -> DeadlineKind {
        match self {
            Colour::Blue => DeadlineKind::Respond,
            Colour::Yellow => DeadlineKind::Consult,
            Colour::Red => DeadlineKind::TaskForce,
        }
    }

    /// Hours the province's policy gives this colour.
    pub fn hours(self, policy: &Policy) -> i32 {
        match self {
            Colour::Blue => policy.blue_response_hours,
            Colour::Yellow => policy.yellow_consultation_hours,
            Colour::Red => policy.red_task_force_hours,
        }
    }
}

/// Lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Raised, no response yet.
    Open,
    /// Responded to.
    Acknowledged,
    /// Being handled.
    Handling,
    /// Handled, awaiting closure.
    Resolved,
    /// Closed for good.
    Closed,
}

impl State {
    /// Every state.
    pub const ALL: [State; 5] = [
        State::Open,
        State::Acknowledged,
        State::Handling,
        State::Resolved,
        State::Closed,
    ];

    /// Stored code (also the wire name's suffix).
    pub fn code(self) -> &'static str {
        match self {
            State::Open => "OPEN",
            State::Acknowledged => "ACKNOWLEDGED",
            State::Handling => "HANDLING",
            State::Resolved => "RESOLVED",
            State::Closed => "CLOSED",
        }
    }

    /// The state of a stored code.
    pub fn from_code(code: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Not yet resolved: the warning still needs work, and its deadline runs.
    pub fn is_active(self) -> bool {
        matches!(self, State::Open | State::Acknowledged | State::Handling)
    }
}

/// Who raised a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A person.
    Person,
    /// A threshold rule.
    Rule,
    /// Another department's system.
    Integration,
    /// A service request through the Open311 intake.
    Open311,
}

impl Source {
    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Source::Person => "PERSON",
            Source::Rule => "RULE",
            Source::Integration => "INTEGRATION",
            Source::Open311 => "OPEN311",
        }
    }

    /// The source of a stored code.
    pub fn from_code(code: &str) -> Option<Source> {
        [
            Source::Person,
            Source::Rule,
            Source::Integration,
            Source::Open311,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// What a deadline asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineKind {
    /// A response (blue).
    Respond,
    /// A joint consultation (yellow).
    Consult,
    /// A task force (red).
    TaskForce,
}

impl DeadlineKind {
    /// Every kind.
    pub const ALL: [DeadlineKind; 3] = [
        DeadlineKind::Respond,
        DeadlineKind::Consult,
        DeadlineKind::TaskForce,
    ];

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            DeadlineKind::Respond => "RESPOND",
            DeadlineKind::Consult => "CONSULT",
            DeadlineKind::TaskForce => "TASK_FORCE",
        }
    }

    /// The kind of a stored code.
    pub fn from_code(code: &str) -> Option<DeadlineKind> {
        DeadlineKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// What meeting it takes, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            DeadlineKind::Respond => "a response (acknowledgement)",
            DeadlineKind::Consult => "a joint consultation (会商)",
            DeadlineKind::TaskForce => "a task force (专班)",
        }
    }
}

/// A deadline of a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// Row identifier.
    pub id: String,
    /// What it asks for.
    pub kind: DeadlineKind,
    /// The colour it belongs to.
    pub colour: Colour,
    /// Start.
    pub start: DateTime<Utc>,
    /// Due.
    pub due: DateTime<Utc>,
    /// Met at.
    pub met: Option<DateTime<Utc>>,
    /// Passed unmet (marked by the scheduler).
    pub missed: bool,
    /// Replaced by an escalation at.
    pub superseded: Option<DateTime<Utc>>,
    /// Levels above the community notified so far: 0 none, 1 the street, 2 the district.
    pub notified_level: i32,
    /// When the scheduler next looks at it; `None` once nothing more will happen.
    pub next_check: Option<DateTime<Utc>>,
}

impl Deadline {
    /// A running deadline of `colour`, from `start`, as long as `policy` says.
    pub fn start(id: String, colour: Colour, policy: &Policy, start: DateTime<Utc>) -> Deadline {
        let due = start + Duration::hours(i64::from(colour.hours(policy)));
        Deadline {
            id,
            kind: colour.deadline_kind(),
            colour,
            start,
            due,
            met: None,
            missed: false,
            superseded: None,
            notified_level: 0,
            next_check: Some(due),
        }
    }

    /// Still running: neither met nor replaced.
    pub fn is_running(&self) -> bool {
        self.met.is_none() && self.superseded.is_none()
    }

    /// Met on time: at or before it was due.
    pub fn met_on_time(&self) -> bool {
        self.met.is_some_and(|met| met <= self.due)
    }
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Raised.
    Raised,
    /// Acknowledged.
    Acknowledged,
    /// Handling started.
    HandlingStarted,
    /// A consultation was recorded.
    ConsultationRecorded,
    /// A task force was recorded.
    TaskForceRecorded,
    /// Colour raised.
    Escalated,
    /// Resolved.
    Resolved,
    /// Closed.
    Closed,
    /// A deadline passed unmet (and the level above was notified).
    DeadlineMissed,
    /// The assignee changed.
    Assigned,
}

impl Action {
    const ALL: [Action; 10] = [
        Action::Raised,
        Action::Acknowledged,
        Action::HandlingStarted,
        Action::ConsultationRecorded,
        Action::TaskForceRecorded,
        Action::Escalated,
        Action::Resolved,
        Action::Closed,
        Action::DeadlineMissed,
        Action::Assigned,
    ];

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Action::Raised => "RAISED",
            Action::Acknowledged => "ACKNOWLEDGED",
            Action::HandlingStarted => "HANDLING_STARTED",
            Action::ConsultationRecorded => "CONSULTATION_RECORDED",
            Action::TaskForceRecorded => "TASK_FORCE_RECORDED",
            Action::Escalated => "ESCALATED",
            Action::Resolved => "RESOLVED",
            Action::Closed => "CLOSED",
            Action::DeadlineMissed => "DEADLINE_MISSED",
            Action::Assigned => "ASSIGNED",
        }
    }

    /// The action of a stored code.
    pub fn from_code(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }

    /// The verb of the method that asks for it, for messages.
    fn verb(self) -> &'static str {
        match self {
            Action::Raised => "raise",
            Action::Acknowledged => "acknowledge",
            Action::HandlingStarted => "start handling",
            Action::ConsultationRecorded => "record a consultation on",
            Action::TaskForceRecorded => "record a task force on",
            Action::Escalated => "escalate",
            Action::Resolved => "resolve",
            Action::Closed => "close",
            Action::DeadlineMissed => "mark a deadline missed on",
            Action::Assigned => "assign",
        }
    }
}

/// One entry of a warning's history: what changed, by whom, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Number within the warning, from 1 (the warning's version after the change).
    pub seq: i64,
    /// What happened.
    pub action: Action,
    /// State before.
    pub from_state: State,
    /// State after.
    pub to_state: State,
    /// Colour before.
    pub from_colour: Colour,
    /// Colour after.
    pub to_colour: Colour,
    /// Assignee after.
    pub assignee: Option<String>,
    /// Subject of whoever did it.
    pub actor: String,
    /// Note, reason or resolution.
    pub note: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What a new warning is made of.
#[derive(Debug, Clone)]
pub struct NewWarning {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Colour.
    pub colour: Colour,
    /// Category code.
    pub category: String,
    /// The community.
    pub region: RegionCode,
    /// Assignee, `secretaries/{id}`.
    pub assignee: Option<String>,
    /// Who raised it.
    pub source: Source,
    /// Rule-raised: the rule's name.
    pub rule: Option<String>,
}

/// A warning with its deadlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Identifier.
    pub id: String,
    /// The community.
    pub region: RegionCode,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category code.
    pub category: String,
    /// Current colour.
    pub colour: Colour,
    /// State.
    pub state: State,
    /// Who raised it.
    pub source: Source,
    /// Rule-raised: the rule's name.
    pub rule: Option<String>,
    /// Assignee, `secretaries/{id}`.
    pub assignee: Option<String>,
    /// The running deadline passed unmet.
    pub overdue: bool,
    /// Subject of whoever raised it.
    pub raised_by: String,
    /// How it was resolved.
    pub resolution: String,
    /// Raised at.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
    /// Last escalated.
    pub escalate_time: Option<DateTime<Utc>>,
    /// Resolved at.
    pub resolve_time: Option<DateTime<Utc>>,
    /// Closed at.
    pub close_time: Option<DateTime<Utc>>,
    /// Version: the number of changes so far (the etag).
    pub version: i64,
    /// Every deadline, oldest first; the running one (if any) last.
    pub deadlines: Vec<Deadline>,
}

/// The refusal of an action the state does not allow, naming the state.
pub fn illegal(state: State, action: Action) -> Error {
    Error::FailedPrecondition {
        reason: "ILLEGAL_STATE_TRANSITION",
        message: format!(
            "cannot {} a warning in state {}",
            action.verb(),
            state.code()
        ),
        preconditions: Vec::new(),
        metadata: vec![
            ("state", format!("WARNING_STATE_{}", state.code())),
            ("action", action.code().to_owned()),
        ],
    }
}

impl Warning {
    /// A new warning with the running deadline of its colour; its first history entry.
    pub fn raise(
        id: String,
        deadline_id: String,
        new: NewWarning,
        actor: &str,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> (Warning, HistoryEntry) {
        let deadline = Deadline::start(deadline_id, new.colour, policy, now);
        let warning = Warning {
            id,
            region: new.region,
            title: new.title,
            description: new.description,
            category: new.category,
            colour: new.colour,
            state: State::Open,
            source: new.source,
            rule: new.rule,
            assignee: new.assignee,
            overdue: false,
            raised_by: actor.to_owned(),
            resolution: String::new(),
            create_time: now,
            update_time: now,
            escalate_time: None,
            resolve_time: None,
            close_time: None,
            version: 1,
            deadlines: vec![deadline],
        };
        let entry = HistoryEntry {
            seq: 1,
            action: Action::Raised,
            from_state: State::Open,
            to_state: State::Open,
            from_colour: warning.colour,
            to_colour: warning.colour,
            assignee: warning.assignee.clone(),
            actor: actor.to_owned(),
            note: String::new(),
            at: now,
        };
        (warning, entry)
    }

    /// Its resource name.
    pub fn name(&self) -> String {
        format!("warnings/{}", self.id)
    }

    /// The running deadline, if any.
    pub fn running_deadline(&self) -> Option<&Deadline> {
        self.deadlines.last().filter(|d| d.is_running())
    }

    fn running_deadline_mut(&mut self) -> Option<&mut Deadline> {
        self.deadlines.last_mut().filter(|d| d.is_running())
    }

    /// Applies one change: the new state, the version, the time, and its history entry.
    fn change(
        &mut self,
        action: Action,
        to_state: State,
        actor: &str,
        note: String,
        now: DateTime<Utc>,
        from_colour: Colour,
    ) -> HistoryEntry {
        let from_state = self.state;
        self.state = to_state;
        self.version += 1;
        self.update_time = now;
        HistoryEntry {
            seq: self.version,
            action,
            from_state,
            to_state,
            from_colour,
            to_colour: self.colour,
            assignee: self.assignee.clone(),
            actor: actor.to_owned(),
            note,
            at: now,
        }
    }

    /// Meets the running deadline when it asks for `kind`.
    fn meet(&mut self, kind: DeadlineKind, now: DateTime<Utc>) {
        if let Some(deadline) = self.running_deadline_mut()
            && deadline.kind == kind
        {
            deadline.met = Some(now);
            deadline.next_check = None;
            self.overdue = false;
        }
    }

    /// OPEN → ACKNOWLEDGED; meets a blue deadline.
    pub fn acknowledge(
        &mut self,
        actor: &str,
        note: String,
        now: DateTime<Utc>,
    ) -> Result<HistoryEntry, Error> {
        if self.state != State::Open {
            return Err(illegal(self.state, Action::Acknowledged));
        }
        self.meet(DeadlineKind::Respond, now);
        let colour = self.colour;
        Ok(self.change(
            Action::Acknowledged,
            State::Acknowledged,
            actor,
            note,
            now,
            colour,
        ))
    }

    /// ACKNOWLEDGED → HANDLING.
    pub fn start_handling(
        &mut self,
        actor: &str,
        note: String,
        now: DateTime<Utc>,
    ) -> Result<HistoryEntry, Error> {
        if self.state != State::Acknowledged {
            return Err(illegal(self.state, Action::HandlingStarted));
        }
        let colour = self.colour;
        Ok(self.change(
            Action::HandlingStarted,
            State::Handling,
            actor,
            note,
            now,
            colour,
        ))
    }

    /// A consultation (or, with `task_force`, a task force) recorded: ACKNOWLEDGED or HANDLING
    /// → HANDLING; meets a yellow (red) deadline.
    pub fn record_meeting(
        &mut self,
        task_force: bool,
        actor: &str,
        note: String,
        now: DateTime<Utc>,
    ) -> Result<HistoryEntry, Error> {
        let (action, kind) = if task_force {
            (Action::TaskForceRecorded, DeadlineKind::TaskForce)
        } else {
            (Action::ConsultationRecorded, DeadlineKind::Consult)
        };
        if !matches!(self.state, State::Acknowledged | State::Handling) {
            return Err(illegal(self.state, action));
        }
        self.meet(kind, now);
        let colour = self.colour;
        Ok(self.change(action, State::Handling, actor, note, now, colour))
    }

    /// Raises the colour of an active warning: the running deadline is replaced by the new
    /// colour's, from now.
    pub fn escalate(
        &mut self,
        to: Colour,
        deadline_id: String,
        policy: &Policy,
        actor: &str,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<HistoryEntry, Error> {
        if !self.state.is_active() {
            return Err(illegal(self.state, Action::Escalated));
        }
        if to <= self.colour {
            return Err(Error::FailedPrecondition {
                reason: "COLOUR_NOT_HIGHER",
                message: format!(
                    "escalation needs a colour above the current {}, got {}",
                    self.colour.code(),
                    to.code()
                ),
                preconditions: Vec::new(),
                metadata: vec![("colour", format!("COLOUR_{}", self.colour.code()))],
            });
        }
        if let Some(running) = self.running_deadline_mut() {
            running.superseded = Some(now);
            running.next_check = None;
        }
        let from = self.colour;
        self.colour = to;
        self.overdue = false;
        self.escalate_time = Some(now);
        self.deadlines
            .push(Deadline::start(deadline_id, to, policy, now));
        let state = self.state;
        Ok(self.change(Action::Escalated, state, actor, reason, now, from))
    }

    /// HANDLING → RESOLVED, once the running deadline is met.
    pub fn resolve(
        &mut self,
        actor: &str,
        resolution: String,
        now: DateTime<Utc>,
    ) -> Result<HistoryEntry, Error> {
        if self.state != State::Handling {
            return Err(illegal(self.state, Action::Resolved));
        }
        if let Some(running) = self.running_deadline()
            && running.kind != DeadlineKind::Respond
        {
            return Err(Error::FailedPrecondition {
                reason: "RESOLUTION_PREREQUISITE_UNMET",
                message: format!(
                    "a {} warning is resolved after {}; none was recorded since {}",
                    self.colour.code(),
                    running.kind.describe(),
                    running.start.to_rfc3339()
                ),
                preconditions: vec![shequ_kit::error::Precondition {
                    kind: "PREREQUISITE",
                    subject: running.kind.code().to_owned(),
                    description: format!("record {} first", running.kind.describe()),
                }],
                metadata: vec![("deadline_kind", running.kind.code().to_owned())],
            });
        }
        // A blue deadline is met by the acknowledgement every HANDLING warning had.
        self.resolution = resolution.clone();
        self.resolve_time = Some(now);
        let colour = self.colour;
        Ok(self.change(
            Action::Resolved,
            State::Resolved,
            actor,
            resolution,
            now,
            colour,
        ))
    }

    /// RESOLVED → CLOSED.
    pub fn close(
        &mut self,
        actor: &str,
        note: String,
        now: DateTime<Utc>,
    ) -> Result<HistoryEntry, Error> {
        if self.state != State::Resolved {
            return Err(illegal(self.state, Action::Closed));
        }
        self.close_time = Some(now);
        let colour = self.colour;
        Ok(self.change(Action::Closed, State::Closed, actor, note, now, colour))
    }

    /// Gives an active warning another assignee (`None`: nobody, when the community has no
    /// active secretary left).
    pub fn assign(
        &mut self,
        assignee: Option<String>,
        actor: &str,
        note: String,
        now: DateTime<Utc>,
    ) -> Result<HistoryEntry, Error> {
        if !self.state.is_active() {
            return Err(illegal(self.state, Action::Assigned));
        }
        self.assignee = assignee;
        let (state, colour) = (self.state, self.colour);
        Ok(self.change(Action::Assigned, state, actor, note, now, colour))
    }

    /// The scheduler found the running deadline `deadline_id` unmet at `now`: it is missed, the
    /// warning overdue, and the level `level` above the community (1 street, 2 district) is
    /// notified; the next check is `next_check` (`None` when no level is left).
    pub fn miss_deadline(
        &mut self,
        deadline_id: &str,
        level: i32,
        next_check: Option<DateTime<Utc>>,
        actor: &str,
        note: String,
        now: DateTime<Utc>,
    ) -> Option<HistoryEntry> {
        let deadline = self
            .running_deadline_mut()
            .filter(|d| d.id == deadline_id && d.due <= now)?;
        deadline.missed = true;
        deadline.notified_level = level;
        deadline.next_check = next_check;
        self.overdue = true;
        let (state, colour) = (self.state, self.colour);
        Some(self.change(Action::DeadlineMissed, state, actor, note, now, colour))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-06-15T02:00:00Z".parse().unwrap()
    }

    fn raised(colour: Colour) -> Warning {
        Warning::raise(
            "w1".into(),
            "d1".into(),
            NewWarning {
                title: "积水".into(),
                description: String::new(),
                colour,
                category: "flood".into(),
                region: RegionCode::parse("440305001001").unwrap(),
                assignee: None,
                source: Source::Person,
                rule: None,
            },
            "user:a",
            &Policy::default(),
            now(),
        )
        .0
    }

    fn reason(error: &Error) -> &'static str {
        match error {
            Error::FailedPrecondition { reason, .. } => reason,
            _ => "",
        }
    }

    #[test]
    fn each_colour_starts_its_own_deadline_from_creation() {
        for (colour, kind, hours) in [
            (Colour::Blue, DeadlineKind::Respond, 48),
            (Colour::Yellow, DeadlineKind::Consult, 72),
            (Colour::Red, DeadlineKind::TaskForce, 24),
        ] {
            let warning = raised(colour);
            let deadline = warning.running_deadline().unwrap();
            assert_eq!(deadline.kind, kind);
            assert_eq!(deadline.due, now() + Duration::hours(hours));
            assert_eq!(deadline.next_check, Some(deadline.due));
        }
    }

    #[test]
    fn the_lifecycle_runs_in_order_and_refuses_everything_else_naming_the_state() {
        let mut warning = raised(Colour::Blue);
        let later = now() + Duration::hours(1);
        let refused = warning.resolve("u", "done".into(), later).unwrap_err();
        assert_eq!(reason(&refused), "ILLEGAL_STATE_TRANSITION");
        assert!(refused.to_string().contains("state OPEN"), "{refused}");
        assert!(warning.close("u", String::new(), later).is_err());
        assert!(warning.start_handling("u", String::new(), later).is_err());

        let entry = warning.acknowledge("u", String::new(), later).unwrap();
        assert_eq!(
            (entry.seq, entry.from_state, entry.to_state),
            (2, State::Open, State::Acknowledged)
        );
        assert_eq!(warning.deadlines[0].met, Some(later), "blue deadline met");
        assert!(warning.acknowledge("u", String::new(), later).is_err());
        warning.start_handling("u", String::new(), later).unwrap();
        warning.resolve("u", "疏通完毕".into(), later).unwrap();
        assert_eq!(warning.resolution, "疏通完毕");
        assert!(
            warning
                .escalate(
                    Colour::Red,
                    "d2".into(),
                    &Policy::default(),
                    "u",
                    "x".into(),
                    later
                )
                .is_err()
        );
        let entry = warning.close("u", String::new(), later).unwrap();
        assert_eq!((entry.seq, warning.state), (5, State::Closed));
        let refused = warning.acknowledge("u", String::new(), later).unwrap_err();
        assert!(refused.to_string().contains("state CLOSED"));
    }

    #[test]
    fn an_escalation_replaces_the_running_deadline_with_the_new_colours_from_now() {
        let mut warning = raised(Colour::Blue);
        let later = now() + Duration::hours(10);
        warning
            .escalate(
                Colour::Red,
                "d2".into(),
                &Policy::default(),
                "u",
                "扩大".into(),
                later,
            )
            .unwrap();
        assert_eq!(warning.colour, Colour::Red);
        assert_eq!(warning.deadlines[0].superseded, Some(later));
        assert_eq!(warning.deadlines[0].next_check, None);
        let running = warning.running_deadline().unwrap();
        assert_eq!(
            (running.kind, running.due),
            (DeadlineKind::TaskForce, later + Duration::hours(24))
        );
        let refused = warning
            .escalate(
                Colour::Yellow,
                "d3".into(),
                &Policy::default(),
                "u",
                "x".into(),
                later,
            )
            .unwrap_err();
        assert_eq!(reason(&refused), "COLOUR_NOT_HIGHER");
    }

    #[test]
    fn a_red_warning_is_resolved_only_after_its_task_force() {
        let mut warning = raised(Colour::Red);
        let later = now() + Duration::hours(1);
        warning.acknowledge("u", String::new(), later).unwrap();
        assert!(
            warning.running_deadline().is_some(),
            "a response does not meet red"
        );
        warning.start_handling("u", String::new(), later).unwrap();
        let refused = warning.resolve("u", "x".into(), later).unwrap_err();
        assert_eq!(reason(&refused), "RESOLUTION_PREREQUISITE_UNMET");
        // a consultation does not meet a red deadline either
        warning
            .record_meeting(false, "u", String::new(), later)
            .unwrap();
        assert!(warning.resolve("u", "x".into(), later).is_err());
        warning
            .record_meeting(true, "u", String::new(), later)
            .unwrap();
        assert!(warning.running_deadline().is_none());
        warning.resolve("u", "x".into(), later).unwrap();
    }

    #[test]
    fn a_missed_deadline_makes_the_warning_overdue_until_met() {
        let mut warning = raised(Colour::Yellow);
        let due = warning.deadlines[0].due;
        assert!(
            warning
                .miss_deadline(
                    "d1",
                    1,
                    None,
                    "s",
                    String::new(),
                    due - Duration::seconds(1)
                )
                .is_none(),
            "not before it is due"
        );
        let entry = warning
            .miss_deadline(
                "d1",
                1,
                Some(due + Duration::hours(72)),
                "s",
                String::new(),
                due,
            )
            .unwrap();
        assert_eq!(entry.action, Action::DeadlineMissed);
        assert!(warning.overdue && warning.deadlines[0].missed);
        let late = due + Duration::hours(1);
        warning.acknowledge("u", String::new(), late).unwrap();
        warning
            .record_meeting(false, "u", String::new(), late)
            .unwrap();
        assert!(!warning.overdue, "met late");
        assert!(warning.deadlines[0].missed && !warning.deadlines[0].met_on_time());
    }
}
