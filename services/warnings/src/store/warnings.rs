//! Warnings, their deadlines and history, consultations and task forces.

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::{from_db_time, to_db_time},
    regions::RegionCode,
};
use sqlx::AnyConnection;

use super::Store;
use crate::domain::{
    Action, Colour, Deadline, DeadlineKind, Department, HistoryEntry, Source, State, Warning,
};

fn bad(what: &str, value: &str) -> Error {
    Error::internal(anyhow::anyhow!("stored {what} {value:?} is not known"))
}

fn time(text: Option<String>) -> Result<Option<DateTime<Utc>>, Error> {
    text.as_deref().map(from_db_time).transpose()
}

fn colour(code: &str) -> Result<Colour, Error> {
    Colour::from_code(code).ok_or_else(|| bad("colour", code))
}

fn state(code: &str) -> Result<State, Error> {
    State::from_code(code).ok_or_else(|| bad("state", code))
}

#[derive(sqlx::FromRow)]
struct WarningRow {
    id: String,
    region: String,
    title: String,
    description: String,
    category: String,
    colour: String,
    state: String,
    source: String,
    threshold_rule: Option<String>,
    assignee: Option<String>,
    overdue: i64,
    raised_by: String,
    resolution: String,
    create_time: String,
    update_time: String,
    escalate_time: Option<String>,
    resolve_time: Option<String>,
    close_time: Option<String>,
    version: i64,
}

const WARNING_COLUMNS: &str = "id, region, title, description, category, colour, state, source, \
     threshold_rule, assignee, overdue, raised_by, resolution, create_time, update_time, \
     escalate_time, resolve_time, close_time, version";

impl WarningRow {
    fn decode(self, deadlines: Vec<Deadline>) -> Result<Warning, Error> {
        Ok(Warning {
            region: RegionCode::parse(&self.region).map_err(Error::internal)?,
            colour: colour(&self.colour)?,
            state: state(&self.state)?,
            source: Source::from_code(&self.source).ok_or_else(|| bad("source", &self.source))?,
            create_time: from_db_time(&self.create_time)?,
            update_time: from_db_time(&self.update_time)?,
            escalate_time: time(self.escalate_time)?,
            resolve_time: time(self.resolve_time)?,
            close_time: time(self.close_time)?,
            overdue: self.overdue != 0,
            id: self.id,
            title: self.title,
            description: self.description,
            category: self.category,
            rule: self.threshold_rule,
            assignee: self.assignee,
            raised_by: self.raised_by,
            resolution: self.resolution,
            version: self.version,
            deadlines,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeadlineRow {
    id: String,
    warning_id: String,
    kind: String,
    colour: String,
    start_time: String,
    due_time: String,
    met_time: Option<String>,
    missed: i64,
    supersede_time: Option<String>,
    notified_level: i64,
    next_check: Option<String>,
}

const DEADLINE_COLUMNS: &str = "id, warning_id, kind, colour, start_time, due_time, met_time, \
     missed, supersede_time, notified_level, next_check";

impl DeadlineRow {
    fn decode(self) -> Result<Deadline, Error> {
        Ok(Deadline {
            kind: DeadlineKind::from_code(&self.kind).ok_or_else(|| bad("kind", &self.kind))?,
            colour: colour(&self.colour)?,
            start: from_db_time(&self.start_time)?,
            due: from_db_time(&self.due_time)?,
            met: time(self.met_time)?,
            missed: self.missed != 0,
            superseded: time(self.supersede_time)?,
            notified_level: self.notified_level as i32,
            next_check: time(self.next_check)?,
            id: self.id,
        })
    }
}

/// A consultation or task force as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    /// Identifier.
    pub id: String,
    /// The warning.
    pub warning_id: String,
    /// The warning's version when it was recorded (orders a warning's meetings).
    pub seq: i64,
    /// Departments taking part.
    pub departments: Vec<Department>,
    /// Consultation: other participants; task force: members.
    pub people: Vec<String>,
    /// Task force: its leader.
    pub leader: String,
    /// Consultation: what was agreed; task force: its remit.
    pub text: String,
    /// When it was held or formed.
    pub at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was recorded.
    pub create_time: DateTime<Utc>,
}

/// Filters of a warning list.
#[derive(Debug, Clone, Default)]
pub struct WarningFilter {
    /// Only this colour.
    pub colour: Option<Colour>,
    /// Only this state.
    pub state: Option<State>,
    /// Only overdue ones.
    pub overdue_only: bool,
    /// Only active ones (open, acknowledged, handling).
    pub active_only: bool,
}

/// `[low, high]` codes of every record inside `scope`.
pub(crate) fn scope_bounds(scope: RegionCode) -> (String, String) {
    let prefix = scope.prefix();
    (format!("{prefix:0<12}"), format!("{prefix:9<12}"))
}

/// The warning `id` with its deadlines, read on `conn`.
pub(crate) async fn load(conn: &mut AnyConnection, id: &str) -> Result<Option<Warning>, Error> {
    let sql = format!("SELECT {WARNING_COLUMNS} FROM warnings WHERE id = $1");
    let row: Option<WarningRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let deadlines = deadlines_of(conn, &[id.to_owned()]).await?;
    Ok(Some(
        row.decode(deadlines.into_iter().map(|(_, d)| d).collect())?,
    ))
}

/// The deadlines of `ids`, each warning's in order.
async fn deadlines_of(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<(String, Deadline)>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {DEADLINE_COLUMNS} FROM warning_deadlines WHERE warning_id IN ({}) \
         ORDER BY warning_id, seq",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, DeadlineRow>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(id);
    }
    query
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| {
            let warning = row.warning_id.clone();
            row.decode().map(|d| (warning, d))
        })
        .collect()
}

async fn insert_deadline(
    tx: &mut AuditedTx,
    warning: &Warning,
    seq: usize,
    deadline: &Deadline,
) -> Result<(), Error> {
    let sql = format!(
        "INSERT INTO warning_deadlines ({DEADLINE_COLUMNS}, seq, region) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO UPDATE SET met_time = excluded.met_time, missed = excluded.missed, \
         supersede_time = excluded.supersede_time, notified_level = excluded.notified_level, \
         next_check = excluded.next_check"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&deadline.id)
        .bind(&warning.id)
        .bind(deadline.kind.code())
        .bind(deadline.colour.code())
        .bind(to_db_time(deadline.start))
        .bind(to_db_time(deadline.due))
        .bind(deadline.met.map(to_db_time))
        .bind(i64::from(deadline.missed))
        .bind(deadline.superseded.map(to_db_time))
        .bind(i64::from(deadline.notified_level))
        .bind(deadline.next_check.map(to_db_time))
        .bind(seq as i64)
        .bind(warning.region.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_history(
    tx: &mut AuditedTx,
    warning_id: &str,
    entry: &HistoryEntry,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO warning_history (warning_id, seq, action, from_state, to_state, \
         from_colour, to_colour, assignee, actor, note, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(warning_id)
    .bind(entry.seq)
    .bind(entry.action.code())
    .bind(entry.from_state.code())
    .bind(entry.to_state.code())
    .bind(entry.from_colour.code())
    .bind(entry.to_colour.code())
    .bind(entry.assignee.as_deref())
    .bind(&entry.actor)
    .bind(&entry.note)
    .bind(to_db_time(entry.at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes every deadline of `warning` (new ones inserted, changed ones updated).
async fn save_deadlines(tx: &mut AuditedTx, warning: &Warning) -> Result<(), Error> {
    for (seq, deadline) in warning.deadlines.iter().enumerate() {
        insert_deadline(tx, warning, seq + 1, deadline).await?;
    }
    Ok(())
}

/// The active warning rule `rule` keeps for `community`, if any, read on `conn`.
pub(crate) async fn active_rule_warning(
    conn: &mut AnyConnection,
    community: RegionCode,
    rule: &str,
) -> Result<Option<Warning>, Error> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM warnings WHERE region = $1 AND threshold_rule = $2 \
         AND state IN ('OPEN', 'ACKNOWLEDGED', 'HANDLING')",
    )
    .bind(community.to_string())
    .bind(rule)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => load(conn, &id).await,
        None => Ok(None),
    }
}

impl Store {
    /// The active warning rule `rule` keeps for `community`, if any.
    pub async fn active_rule_warning(
        conn: &mut AnyConnection,
        community: RegionCode,
        rule: &str,
    ) -> Result<Option<Warning>, Error> {
        active_rule_warning(conn, community, rule).await
    }

    /// The warning `id`, if any.
    pub async fn warning(&self, id: &str) -> Result<Option<Warning>, Error> {
        let mut conn = self.db.pool().acquire().await?;
        load(&mut conn, id).await
    }

    /// Stores a new warning, its deadline and its first history entry. A second active warning
    /// of one rule in one community is refused by a unique index (the transaction fails).
    pub async fn insert_warning(
        tx: &mut AuditedTx,
        warning: &Warning,
        entry: &HistoryEntry,
    ) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO warnings ({WARNING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&warning.id)
            .bind(warning.region.to_string())
            .bind(&warning.title)
            .bind(&warning.description)
            .bind(&warning.category)
            .bind(warning.colour.code())
            .bind(warning.state.code())
            .bind(warning.source.code())
            .bind(warning.rule.as_deref())
            .bind(warning.assignee.as_deref())
            .bind(i64::from(warning.overdue))
            .bind(&warning.raised_by)
            .bind(&warning.resolution)
            .bind(to_db_time(warning.create_time))
            .bind(to_db_time(warning.update_time))
            .bind(warning.escalate_time.map(to_db_time))
            .bind(warning.resolve_time.map(to_db_time))
            .bind(warning.close_time.map(to_db_time))
            .bind(warning.version)
            .execute(&mut **tx)
            .await?;
        save_deadlines(tx, warning).await?;
        insert_history(tx, &warning.id, entry).await
    }

    /// Writes a changed warning (if it is still at `expected_version`), its deadlines and the
    /// change's history entry; false when someone changed it meanwhile.
    pub async fn save_change(
        tx: &mut AuditedTx,
        warning: &Warning,
        expected_version: i64,
        entry: &HistoryEntry,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE warnings SET colour = $1, state = $2, assignee = $3, overdue = $4, \
             resolution = $5, update_time = $6, escalate_time = $7, resolve_time = $8, \
             close_time = $9, version = $10 WHERE id = $11 AND version = $12",
        )
        .bind(warning.colour.code())
        .bind(warning.state.code())
        .bind(warning.assignee.as_deref())
        .bind(i64::from(warning.overdue))
        .bind(&warning.resolution)
        .bind(to_db_time(warning.update_time))
        .bind(warning.escalate_time.map(to_db_time))
        .bind(warning.resolve_time.map(to_db_time))
        .bind(warning.close_time.map(to_db_time))
        .bind(warning.version)
        .bind(&warning.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        save_deadlines(tx, warning).await?;
        insert_history(tx, &warning.id, entry).await?;
        Ok(true)
    }

    /// Up to `limit` warnings inside `scope`, newest first, before `before_id` (empty: from the
    /// newest), with their deadlines.
    pub async fn list_warnings(
        &self,
        scope: RegionCode,
        filter: &WarningFilter,
        before_id: &str,
        limit: usize,
    ) -> Result<Vec<Warning>, Error> {
        let (low, high) = scope_bounds(scope);
        let mut sql = format!(
            "SELECT {WARNING_COLUMNS} FROM warnings WHERE region BETWEEN $1 AND $2 \
             AND ($3 = '' OR id < $3)"
        );
        let mut binds = Vec::new();
        if let Some(colour) = filter.colour {
            binds.push(colour.code());
            sql.push_str(&format!(" AND colour = ${}", 3 + binds.len()));
        }
        if let Some(state) = filter.state {
            binds.push(state.code());
            sql.push_str(&format!(" AND state = ${}", 3 + binds.len()));
        }
        if filter.overdue_only {
            sql.push_str(" AND overdue = 1");
        }
        if filter.active_only {
            sql.push_str(" AND state IN ('OPEN', 'ACKNOWLEDGED', 'HANDLING')");
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", 4 + binds.len()));
        let mut query = sqlx::query_as::<_, WarningRow>(sqlx::AssertSqlSafe(sql))
            .bind(low)
            .bind(high)
            .bind(before_id);
        for value in binds {
            query = query.bind(value);
        }
        let mut conn = self.db.pool().acquire().await?;
        let rows = query.bind(limit as i64).fetch_all(&mut *conn).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut deadlines = deadlines_of(&mut conn, &ids).await?;
        rows.into_iter()
            .map(|row| {
                let (mine, rest): (Vec<_>, Vec<_>) =
                    deadlines.drain(..).partition(|(w, _)| *w == row.id);
                deadlines = rest;
                row.decode(mine.into_iter().map(|(_, d)| d).collect())
            })
            .collect()
    }

    /// Up to `limit` history entries of warning `id` after number `after`, oldest first.
    pub async fn history(
        &self,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, Error> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, action, from_state, to_state, from_colour, to_colour, assignee, actor, \
             note, at FROM warning_history WHERE warning_id = $1 AND seq > $2 ORDER BY seq \
             LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(
                |(
                    seq,
                    action,
                    from_state,
                    to_state,
                    from_colour,
                    to_colour,
                    assignee,
                    actor,
                    note,
                    at,
                )| {
                    Ok(HistoryEntry {
                        seq,
                        action: Action::from_code(&action).ok_or_else(|| bad("action", &action))?,
                        from_state: state(&from_state)?,
                        to_state: state(&to_state)?,
                        from_colour: colour(&from_colour)?,
                        to_colour: colour(&to_colour)?,
                        assignee,
                        actor,
                        note,
                        at: from_db_time(&at)?,
                    })
                },
            )
            .collect()
    }

    /// Stores a consultation (or, with `task_force`, a task force).
    pub async fn insert_meeting(
        tx: &mut AuditedTx,
        task_force: bool,
        meeting: &Meeting,
    ) -> Result<(), Error> {
        let people = serde_json::to_string(&meeting.people).map_err(Error::internal)?;
        let departments = Department::join(&meeting.departments);
        let query = if task_force {
            sqlx::query(
                "INSERT INTO task_forces (id, warning_id, seq, leader, members, departments, note, \
                 form_time, recorded_by, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&meeting.id)
            .bind(&meeting.warning_id)
            .bind(meeting.seq)
            .bind(&meeting.leader)
            .bind(people)
            .bind(departments)
        } else {
            sqlx::query(
                "INSERT INTO consultations (id, warning_id, seq, departments, participants, summary, \
                 hold_time, recorded_by, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&meeting.id)
            .bind(&meeting.warning_id)
            .bind(meeting.seq)
            .bind(departments)
            .bind(people)
        };
        query
            .bind(&meeting.text)
            .bind(to_db_time(meeting.at))
            .bind(&meeting.recorded_by)
            .bind(to_db_time(meeting.create_time))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Up to `limit` consultations (task forces) of warning `id` recorded after version `after`.
    pub async fn meetings(
        &self,
        task_force: bool,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Meeting>, Error> {
        type Row = (
            String,
            i64,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
        );
        let sql = if task_force {
            "SELECT id, seq, departments, members, leader, note, form_time, recorded_by, \
             create_time FROM task_forces WHERE warning_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        } else {
            "SELECT id, seq, departments, participants, '' AS leader, summary, hold_time, \
             recorded_by, create_time FROM consultations WHERE warning_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        };
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(id)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter()
            .map(
                |(meeting_id, seq, departments, people, leader, text, at, recorded_by, created)| {
                    Ok(Meeting {
                        id: meeting_id,
                        warning_id: id.to_owned(),
                        seq,
                        departments: Department::split(&departments),
                        people: serde_json::from_str(&people).map_err(Error::internal)?,
                        leader,
                        text,
                        at: from_db_time(&at)?,
                        recorded_by,
                        create_time: from_db_time(&created)?,
                    })
                },
            )
            .collect()
    }
}
