//! SQL over the training service's own database. Writes run on the call's [`AuditedTx`]; reads
//! on the pool. Every statement is portable between SQLite and PostgreSQL.

use chrono::{DateTime, NaiveDate, Utc};
use shequ_kit::{
    Error,
    call::AuditedTx,
    convert::{from_db_time, to_db_time},
    db::{Database, Migrations},
};

use crate::domain::Policy;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The training schema.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
    table: "_sqlx_migrations",
};

fn date(text: &str) -> Result<NaiveDate, Error> {
    text.parse()
        .map_err(|e| Error::internal(anyhow::anyhow!("stored date {text:?}: {e}")))
}

fn opt_date(text: Option<String>) -> Result<Option<NaiveDate>, Error> {
    text.as_deref().map(date).transpose()
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(anyhow::anyhow!("{e}"))
}

/// True when `error` is a unique-constraint violation (a concurrent insert won).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

// ------------------------------------------------------------------------------------------------
// Policy

/// A province's stored policy: the rules, their version (0 for the shipped defaults) and when
/// they were last changed.
pub struct StoredPolicy {
    pub policy: Policy,
    pub version: i64,
    pub update_time: Option<DateTime<Utc>>,
}

pub async fn policy(db: &Database, province: &str) -> Result<StoredPolicy, Error> {
    let row: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT body, version, update_time FROM training_policies WHERE province = $1",
    )
    .bind(province)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some((body, version, at)) => StoredPolicy {
            policy: serde_json::from_str(&body).map_err(internal)?,
            version,
            update_time: Some(from_db_time(&at)?),
        },
        None => StoredPolicy {
            policy: Policy::default(),
            version: 0,
            update_time: None,
        },
    })
}

/// Stores `policy` if the stored version is still `expected`; false when it moved meanwhile.
pub async fn save_policy(
    tx: &mut AuditedTx,
    province: &str,
    policy: &Policy,
    expected: i64,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let body = serde_json::to_string(policy).map_err(internal)?;
    let done = if expected == 0 {
        sqlx::query(
            "INSERT INTO training_policies (province, body, version, update_time) \
             VALUES ($1, $2, 1, $3) ON CONFLICT (province) DO NOTHING",
        )
        .bind(province)
        .bind(&body)
        .bind(to_db_time(now))
        .execute(&mut **tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE training_policies SET body = $1, version = version + 1, update_time = $2 \
             WHERE province = $3 AND version = $4",
        )
        .bind(&body)
        .bind(to_db_time(now))
        .bind(province)
        .bind(expected)
        .execute(&mut **tx)
        .await?
    };
    Ok(done.rows_affected() == 1)
}

// ------------------------------------------------------------------------------------------------
// Secretaries (read model of personnel's feed)

/// What training knows of a secretary.
#[derive(Debug, Clone)]
pub struct Secretary {
    pub id: String,
    pub region: String,
    pub appointment_date: NaiveDate,
    pub status: String,
    pub tenure: i64,
}

impl Secretary {
    pub fn active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

type SecretaryRow = (String, String, String, String, i64);

fn secretary_from(row: SecretaryRow) -> Result<Secretary, Error> {
    let (id, region, appointed, status, tenure) = row;
    Ok(Secretary {
        id,
        region,
        appointment_date: date(&appointed)?,
        status,
        tenure,
    })
}

pub async fn secretary(db: &Database, id: &str) -> Result<Option<Secretary>, Error> {
    let row: Option<SecretaryRow> = sqlx::query_as(
        "SELECT id, region, appointment_date, status, tenure FROM secretaries WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(secretary_from).transpose()
}

/// Records an appointment (a new secretary, or a new tenure of one).
pub async fn appoint(
    tx: &mut AuditedTx,
    id: &str,
    region: &str,
    appointed: NaiveDate,
    tenure: i64,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO secretaries (id, region, appointment_date, status, tenure, updated_at) \
         VALUES ($1, $2, $3, 'ACTIVE', $4, $5) \
         ON CONFLICT (id) DO UPDATE SET region = $2, appointment_date = $3, status = 'ACTIVE', \
         tenure = $4, updated_at = $5",
    )
    .bind(id)
    .bind(region)
    .bind(appointed.to_string())
    .bind(tenure)
    .bind(to_db_time(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Follows a career event: the status and region it leaves the secretary in.
pub async fn follow_career(
    tx: &mut AuditedTx,
    id: &str,
    status: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query("UPDATE secretaries SET status = $1, region = $2, updated_at = $3 WHERE id = $4")
        .bind(status)
        .bind(region)
        .bind(to_db_time(now))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE plans SET region = $1 WHERE secretary_id = $2 AND state = 'ACTIVE'")
        .bind(region)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn add_violation(
    tx: &mut AuditedTx,
    name: &str,
    secretary_id: &str,
    item: &str,
    occurred_on: NaiveDate,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO violations (name, secretary_id, item, occurred_on) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(secretary_id)
    .bind(item)
    .bind(occurred_on.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn violation_dates(db: &Database, secretary_id: &str) -> Result<Vec<NaiveDate>, Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT occurred_on FROM violations WHERE secretary_id = $1")
            .bind(secretary_id)
            .fetch_all(db.pool())
            .await?;
    rows.into_iter().map(|(d,)| date(&d)).collect()
}

/// Secretaries whose community lies under `prefix`, after `after`, by id.
pub async fn secretaries_under(
    db: &Database,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<Secretary>, Error> {
    let rows: Vec<SecretaryRow> = sqlx::query_as(
        "SELECT id, region, appointment_date, status, tenure FROM secretaries \
         WHERE region LIKE $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(format!("{prefix}%"))
    .bind(after)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(secretary_from).collect()
}

// ------------------------------------------------------------------------------------------------
// Curriculum

#[derive(Debug, Clone)]
pub struct Course {
    pub id: String,
    pub title: String,
    pub layer: String,
    pub credit_hours: i64,
    pub region: String,
    pub description: String,
    pub create_time: DateTime<Utc>,
}

type CourseRow = (String, String, String, i64, String, String, String);

fn course_from(row: CourseRow) -> Result<Course, Error> {
    let (id, title, layer, credit_hours, region, description, at) = row;
    Ok(Course {
        id,
        title,
        layer,
        credit_hours,
        region,
        description,
        create_time: from_db_time(&at)?,
    })
}

const COURSE_COLUMNS: &str = "id, title, layer, credit_hours, region, description, create_time";

pub async fn insert_course(tx: &mut AuditedTx, c: &Course, province: &str) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO courses (id, title, layer, credit_hours, region, province, description, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&c.id)
    .bind(&c.title)
    .bind(&c.layer)
    .bind(c.credit_hours)
    .bind(&c.region)
    .bind(province)
    .bind(&c.description)
    .bind(to_db_time(c.create_time))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn course(db: &Database, id: &str) -> Result<Option<Course>, Error> {
    let row: Option<CourseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COURSE_COLUMNS} FROM courses WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(course_from).transpose()
}

pub async fn courses(
    db: &Database,
    province: &str,
    layer: Option<&str>,
    after: &str,
    limit: usize,
) -> Result<Vec<Course>, Error> {
    let rows: Vec<CourseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COURSE_COLUMNS} FROM courses WHERE province = $1 AND ($2 = '' OR layer = $2) \
         AND id > $3 ORDER BY id LIMIT $4"
    )))
    .bind(province)
    .bind(layer.unwrap_or(""))
    .bind(after)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(course_from).collect()
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub course_id: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub region: String,
    pub location: String,
    pub capacity: i64,
    pub enrolled: i64,
}

pub async fn insert_session(tx: &mut AuditedTx, s: &Session) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sessions (id, course_id, start_date, end_date, region, location, capacity, enrolled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
    )
    .bind(&s.id)
    .bind(&s.course_id)
    .bind(s.start_date.to_string())
    .bind(s.end_date.to_string())
    .bind(&s.region)
    .bind(&s.location)
    .bind(s.capacity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type SessionRow = (String, String, String, String, String, String, i64, i64);

pub async fn session(db: &Database, course: &str, id: &str) -> Result<Option<Session>, Error> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT id, course_id, start_date, end_date, region, location, capacity, enrolled \
         FROM sessions WHERE id = $1 AND course_id = $2",
    )
    .bind(id)
    .bind(course)
    .fetch_optional(db.pool())
    .await?;
    row.map(
        |(id, course_id, start, end, region, location, capacity, enrolled)| {
            Ok(Session {
                id,
                course_id,
                start_date: date(&start)?,
                end_date: date(&end)?,
                region,
                location,
                capacity,
                enrolled,
            })
        },
    )
    .transpose()
}

/// Takes a seat of a session if one is free (capacity 0: no limit); false when full.
pub async fn take_seat(tx: &mut AuditedTx, session: &str) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE sessions SET enrolled = enrolled + 1 WHERE id = $1 AND (capacity = 0 OR enrolled < capacity)",
    )
    .bind(session)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct Enrolment {
    pub id: String,
    pub session_id: String,
    pub course_id: String,
    pub secretary_id: String,
    pub state: String,
    pub completed_on: Option<NaiveDate>,
    pub hours: i64,
    pub layer: String,
}

/// Inserts an enrolment; false when the secretary is already enrolled in the session.
pub async fn insert_enrolment(tx: &mut AuditedTx, e: &Enrolment) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO enrolments (id, session_id, course_id, secretary_id, state, completed_on, hours, layer) \
         VALUES ($1, $2, $3, $4, 'ENROLLED', NULL, 0, $5) ON CONFLICT (session_id, secretary_id) DO NOTHING",
    )
    .bind(&e.id)
    .bind(&e.session_id)
    .bind(&e.course_id)
    .bind(&e.secretary_id)
    .bind(&e.layer)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

type EnrolmentRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
);

pub async fn enrolment(db: &Database, session: &str, id: &str) -> Result<Option<Enrolment>, Error> {
    let row: Option<EnrolmentRow> = sqlx::query_as(
        "SELECT id, session_id, course_id, secretary_id, state, completed_on, hours, layer \
             FROM enrolments WHERE id = $1 AND session_id = $2",
    )
    .bind(id)
    .bind(session)
    .fetch_optional(db.pool())
    .await?;
    row.map(
        |(id, session_id, course_id, secretary_id, state, completed_on, hours, layer)| {
            Ok(Enrolment {
                id,
                session_id,
                course_id,
                secretary_id,
                state,
                completed_on: opt_date(completed_on)?,
                hours,
                layer,
            })
        },
    )
    .transpose()
}

/// Completes an enrolled (not yet completed) enrolment; false when it was completed meanwhile.
pub async fn complete_enrolment(
    tx: &mut AuditedTx,
    id: &str,
    on: NaiveDate,
    hours: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE enrolments SET state = 'COMPLETED', completed_on = $1, hours = $2 \
         WHERE id = $3 AND state = 'ENROLLED'",
    )
    .bind(on.to_string())
    .bind(hours)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hours completed per layer by each of `secretaries` in `year`.
pub async fn hours_in_year(
    db: &Database,
    secretaries: &[String],
    year: i32,
) -> Result<Vec<(String, String, i64)>, Error> {
    if secretaries.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..secretaries.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    let sql = format!(
        "SELECT secretary_id, layer, CAST(SUM(hours) AS BIGINT) FROM enrolments WHERE state = 'COMPLETED' \
         AND completed_on >= $1 AND completed_on <= $2 AND secretary_id IN ({}) \
         GROUP BY secretary_id, layer",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String, i64)>(sqlx::AssertSqlSafe(sql))
        .bind(format!("{year:04}-01-01"))
        .bind(format!("{year:04}-12-31"));
    for id in secretaries {
        query = query.bind(id);
    }
    Ok(query.fetch_all(db.pool()).await?)
}

// ------------------------------------------------------------------------------------------------
// Studios

#[derive(Debug, Clone)]
pub struct Studio {
    pub id: String,
    pub display_name: String,
    pub region: String,
    pub lead_id: String,
    pub create_time: DateTime<Utc>,
}

pub async fn insert_studio(tx: &mut AuditedTx, s: &Studio) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO studios (id, display_name, region, lead_id, create_time) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&s.id)
    .bind(&s.display_name)
    .bind(&s.region)
    .bind(&s.lead_id)
    .bind(to_db_time(s.create_time))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn studio(db: &Database, id: &str) -> Result<Option<Studio>, Error> {
    let row: Option<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT id, display_name, region, lead_id, create_time FROM studios WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|(id, display_name, region, lead_id, at)| {
        Ok(Studio {
            id,
            display_name,
            region,
            lead_id,
            create_time: from_db_time(&at)?,
        })
    })
    .transpose()
}

pub async fn add_attendance(
    tx: &mut AuditedTx,
    id: &str,
    studio: &str,
    day: NaiveDate,
    person_times: i64,
    activity: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO studio_attendance (id, studio_id, day, person_times, activity) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(studio)
    .bind(day.to_string())
    .bind(person_times)
    .bind(activity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn person_times(db: &Database, studio: &str, year: i32) -> Result<i64, Error> {
    let total: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(person_times) AS BIGINT) FROM studio_attendance WHERE studio_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(studio)
    .bind(format!("{year:04}-01-01"))
    .bind(format!("{year:04}-12-31"))
    .fetch_one(db.pool())
    .await?;
    Ok(total.unwrap_or(0))
}

// ------------------------------------------------------------------------------------------------
// Plans

#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub secretary_id: String,
    pub tenure: i64,
    pub region: String,
    pub start_date: NaiveDate,
    pub state: String,
    pub closed_reason: String,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub number: i64,
    pub completed_on: NaiveDate,
    pub signed_off_by: String,
    pub note: String,
}

/// Creates the plan of an appointment unless it exists (a replayed event); true when created.
pub async fn insert_plan(tx: &mut AuditedTx, p: &Plan) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO plans (id, secretary_id, tenure, region, start_date, state, closed_reason) \
         VALUES ($1, $2, $3, $4, $5, 'ACTIVE', '') ON CONFLICT (secretary_id, tenure) DO NOTHING",
    )
    .bind(&p.id)
    .bind(&p.secretary_id)
    .bind(p.tenure)
    .bind(&p.region)
    .bind(p.start_date.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The plan of the secretary's latest tenure.
pub async fn current_plan(db: &Database, secretary: &str) -> Result<Option<Plan>, Error> {
    let row: Option<(String, String, i64, String, String, String, String)> = sqlx::query_as(
        "SELECT id, secretary_id, tenure, region, start_date, state, closed_reason FROM plans \
         WHERE secretary_id = $1 ORDER BY tenure DESC LIMIT 1",
    )
    .bind(secretary)
    .fetch_optional(db.pool())
    .await?;
    row.map(
        |(id, secretary_id, tenure, region, start, state, closed_reason)| {
            Ok(Plan {
                id,
                secretary_id,
                tenure,
                region,
                start_date: date(&start)?,
                state,
                closed_reason,
            })
        },
    )
    .transpose()
}

pub async fn plan_count(db: &Database, secretary: &str) -> Result<i64, Error> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM plans WHERE secretary_id = $1")
            .bind(secretary)
            .fetch_one(db.pool())
            .await?,
    )
}

pub async fn steps(db: &Database, plan: &str) -> Result<Vec<Step>, Error> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT number, completed_on, signed_off_by, note FROM plan_steps WHERE plan_id = $1 ORDER BY number",
    )
    .bind(plan)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(number, on, by, note)| {
            Ok(Step {
                number,
                completed_on: date(&on)?,
                signed_off_by: by,
                note,
            })
        })
        .collect()
}

/// Records a sign-off; false when that step was signed off meanwhile.
pub async fn add_step(tx: &mut AuditedTx, plan: &str, step: &Step) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO plan_steps (plan_id, number, completed_on, signed_off_by, note) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (plan_id, number) DO NOTHING",
    )
    .bind(plan)
    .bind(step.number)
    .bind(step.completed_on.to_string())
    .bind(&step.signed_off_by)
    .bind(&step.note)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_plan_state(
    tx: &mut AuditedTx,
    plan: &str,
    state: &str,
    reason: &str,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE plans SET state = $1, closed_reason = $2 WHERE id = $3 AND state = 'ACTIVE'",
    )
    .bind(state)
    .bind(reason)
    .bind(plan)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Closes the secretary's active plans.
pub async fn close_plans(tx: &mut AuditedTx, secretary: &str, reason: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE plans SET state = 'CLOSED', closed_reason = $1 WHERE secretary_id = $2 AND state = 'ACTIVE'",
    )
    .bind(reason)
    .bind(secretary)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Mentorships

#[derive(Debug, Clone)]
pub struct Mentorship {
    pub id: String,
    pub mentor_id: String,
    pub mentee_id: String,
    pub region: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub end_reason: String,
}

type MentorshipRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
);

fn mentorship_from(row: MentorshipRow) -> Result<Mentorship, Error> {
    let (id, mentor_id, mentee_id, region, start, end, end_reason) = row;
    Ok(Mentorship {
        id,
        mentor_id,
        mentee_id,
        region,
        start_date: date(&start)?,
        end_date: opt_date(end)?,
        end_reason,
    })
}

const MENTORSHIP_COLUMNS: &str =
    "id, mentor_id, mentee_id, region, start_date, end_date, end_reason";

/// Takes one of the mentor's slots if fewer than `capacity` are taken; false when full. One
/// conditional UPDATE: on PostgreSQL a concurrent one waits for this row and re-checks the
/// condition; SQLite runs one writer at a time.
pub async fn take_mentor_slot(
    tx: &mut AuditedTx,
    mentor: &str,
    capacity: i64,
) -> Result<bool, Error> {
    sqlx::query("INSERT INTO mentor_load (mentor_id, active) VALUES ($1, 0) ON CONFLICT (mentor_id) DO NOTHING")
        .bind(mentor)
        .execute(&mut **tx)
        .await?;
    let done = sqlx::query(
        "UPDATE mentor_load SET active = active + 1 WHERE mentor_id = $1 AND active < $2",
    )
    .bind(mentor)
    .bind(capacity)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts a pair; false when the mentee got a mentor meanwhile.
pub async fn insert_mentorship(
    tx: &mut AuditedTx,
    m: &Mentorship,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let inserted = sqlx::query(
        "INSERT INTO mentorships (id, mentor_id, mentee_id, region, start_date, end_date, end_reason, create_time) \
         VALUES ($1, $2, $3, $4, $5, NULL, '', $6)",
    )
    .bind(&m.id)
    .bind(&m.mentor_id)
    .bind(&m.mentee_id)
    .bind(&m.region)
    .bind(m.start_date.to_string())
    .bind(to_db_time(now))
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

pub async fn mentorship(db: &Database, id: &str) -> Result<Option<Mentorship>, Error> {
    let row: Option<MentorshipRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MENTORSHIP_COLUMNS} FROM mentorships WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(mentorship_from).transpose()
}

pub async fn active_mentor(db: &Database, mentee: &str) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT mentor_id FROM mentorships WHERE mentee_id = $1 AND end_date IS NULL",
    )
    .bind(mentee)
    .fetch_optional(db.pool())
    .await?)
}

/// Ends an active pair and frees the mentor's slot; false when it had ended meanwhile.
pub async fn end_mentorship(
    tx: &mut AuditedTx,
    m: &Mentorship,
    on: NaiveDate,
    reason: &str,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE mentorships SET end_date = $1, end_reason = $2 WHERE id = $3 AND end_date IS NULL",
    )
    .bind(on.to_string())
    .bind(reason)
    .bind(&m.id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("UPDATE mentor_load SET active = active - 1 WHERE mentor_id = $1 AND active > 0")
        .bind(&m.mentor_id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// The active pairs a secretary is in, as mentor or mentee.
pub async fn active_mentorships_of(
    tx: &mut AuditedTx,
    secretary: &str,
) -> Result<Vec<Mentorship>, Error> {
    let rows: Vec<MentorshipRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MENTORSHIP_COLUMNS} FROM mentorships \
         WHERE (mentor_id = $1 OR mentee_id = $1) AND end_date IS NULL"
    )))
    .bind(secretary)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(mentorship_from).collect()
}

/// Every pair a secretary was in, newest first (start date, then id), after the cursor.
pub async fn mentorships_of(
    db: &Database,
    secretary: &str,
    after: Option<&(String, String)>,
    limit: usize,
) -> Result<Vec<Mentorship>, Error> {
    let (start, id) = after
        .cloned()
        .unwrap_or_else(|| ("9999-12-31".to_owned(), "~".to_owned()));
    let rows: Vec<MentorshipRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MENTORSHIP_COLUMNS} FROM mentorships WHERE (mentor_id = $1 OR mentee_id = $1) \
         AND (start_date < $2 OR (start_date = $2 AND id < $3)) \
         ORDER BY start_date DESC, id DESC LIMIT $4"
    )))
    .bind(secretary)
    .bind(start)
    .bind(id)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(mentorship_from).collect()
}

// ------------------------------------------------------------------------------------------------
// Exams and certificates

pub struct Exam<'a> {
    pub id: &'a str,
    pub secretary_id: &'a str,
    pub module: &'a str,
    pub level: &'a str,
    pub score: i64,
    pub pass_mark: i64,
    pub passed: bool,
    pub taken_on: NaiveDate,
}

pub async fn insert_exam(
    tx: &mut AuditedTx,
    e: &Exam<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO exam_results (id, secretary_id, module, level, score, pass_mark, passed, taken_on, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.id)
    .bind(e.secretary_id)
    .bind(e.module)
    .bind(e.level)
    .bind(e.score)
    .bind(e.pass_mark)
    .bind(i64::from(e.passed))
    .bind(e.taken_on.to_string())
    .bind(to_db_time(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The modules of `level` the secretary passed on or after `since` (any date when `None`).
pub async fn passed_modules(
    db: &Database,
    secretary: &str,
    level: &str,
    since: Option<NaiveDate>,
) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT module FROM exam_results WHERE secretary_id = $1 AND level = $2 \
         AND passed = 1 AND taken_on >= $3",
    )
    .bind(secretary)
    .bind(level)
    .bind(since.map_or_else(|| "0000-01-01".to_owned(), |d| d.to_string()))
    .fetch_all(db.pool())
    .await?)
}

#[derive(Debug, Clone)]
pub struct Certificate {
    pub number: String,
    pub secretary_id: String,
    pub region: String,
    pub province: String,
    pub level: String,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub revoked_on: Option<NaiveDate>,
    pub revocation_reason: String,
    pub suspended: bool,
    pub status_index: i64,
    pub credential: String,
    pub kid: String,
}

type CertificateRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    String,
    String,
);

const CERTIFICATE_COLUMNS: &str = "number, secretary_id, region, province, level, issue_date, \
    expiry_date, revoked_on, revocation_reason, suspended, status_index, credential, kid";

fn certificate_from(row: CertificateRow) -> Result<Certificate, Error> {
    let (
        number,
        secretary_id,
        region,
        province,
        level,
        issued,
        expires,
        revoked,
        reason,
        suspended,
        index,
        credential,
        kid,
    ) = row;
    Ok(Certificate {
        number,
        secretary_id,
        region,
        province,
        level,
        issue_date: date(&issued)?,
        expiry_date: date(&expires)?,
        revoked_on: opt_date(revoked)?,
        revocation_reason: reason,
        suspended: suspended != 0,
        status_index: index,
        credential,
        kid,
    })
}

pub async fn certificate(db: &Database, number: &str) -> Result<Option<Certificate>, Error> {
    let row: Option<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE number = $1"
    )))
    .bind(number)
    .fetch_optional(db.pool())
    .await?;
    row.map(certificate_from).transpose()
}

/// Every certificate of the given secretaries, oldest first.
pub async fn certificates_of(
    db: &Database,
    secretaries: &[String],
) -> Result<Vec<Certificate>, Error> {
    if secretaries.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..secretaries.len())
        .map(|i| format!("${}", i + 1))
        .collect();
    let sql = format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE secretary_id IN ({}) ORDER BY issue_date, number",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, CertificateRow>(sqlx::AssertSqlSafe(sql));
    for id in secretaries {
        query = query.bind(id);
    }
    query
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(certificate_from)
        .collect()
}

/// The next value of sequence `name` (1, 2, ...), inside the transaction.
pub async fn next_value(tx: &mut AuditedTx, name: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "INSERT INTO counters (name, value) VALUES ($1, 1) \
         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
    )
    .bind(name)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn insert_certificate(tx: &mut AuditedTx, c: &Certificate) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO certificates (number, secretary_id, region, province, level, issue_date, expiry_date, \
         revoked_on, revocation_reason, suspended, status_index, credential, kid, expiry_published) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '', 0, $8, $9, $10, 0)",
    )
    .bind(&c.number)
    .bind(&c.secretary_id)
    .bind(&c.region)
    .bind(&c.province)
    .bind(&c.level)
    .bind(c.issue_date.to_string())
    .bind(c.expiry_date.to_string())
    .bind(c.status_index)
    .bind(&c.credential)
    .bind(&c.kid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Renews an unrevoked certificate with a new expiry and credential; false when it was revoked
/// meanwhile.
pub async fn renew(
    tx: &mut AuditedTx,
    number: &str,
    expiry: NaiveDate,
    credential: &str,
    kid: &str,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE certificates SET expiry_date = $1, credential = $2, kid = $3, expiry_published = 0 \
         WHERE number = $4 AND revoked_on IS NULL",
    )
    .bind(expiry.to_string())
    .bind(credential)
    .bind(kid)
    .bind(number)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes a certificate not yet revoked; false when it already was.
pub async fn revoke(
    tx: &mut AuditedTx,
    number: &str,
    on: NaiveDate,
    reason: &str,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE certificates SET revoked_on = $1, revocation_reason = $2 WHERE number = $3 AND revoked_on IS NULL",
    )
    .bind(on.to_string())
    .bind(reason)
    .bind(number)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets (with its reason) or clears the suspension of an unrevoked certificate; false when
/// nothing changed.
pub async fn set_suspended(
    tx: &mut AuditedTx,
    number: &str,
    suspended: bool,
    note: &str,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE certificates SET suspended = $1, revocation_reason = $2 \
         WHERE number = $3 AND suspended <> $1 AND revoked_on IS NULL",
    )
    .bind(i64::from(suspended))
    .bind(note)
    .bind(number)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The unrevoked certificates of a secretary (for a revoking violation).
pub async fn unrevoked_of(tx: &mut AuditedTx, secretary: &str) -> Result<Vec<Certificate>, Error> {
    let rows: Vec<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE secretary_id = $1 AND revoked_on IS NULL"
    )))
    .bind(secretary)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(certificate_from).collect()
}

/// The status-list entries set for `purpose` in a province.
pub async fn status_entries(
    db: &Database,
    province: &str,
    purpose: crate::credential::Purpose,
) -> Result<Vec<i64>, Error> {
    let condition = match purpose {
        crate::credential::Purpose::Revocation => "revoked_on IS NOT NULL",
        crate::credential::Purpose::Suspension => "suspended = 1",
    };
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT status_index FROM certificates WHERE province = $1 AND {condition}"
    )))
    .bind(province)
    .fetch_all(db.pool())
    .await?)
}

/// Certificates past their expiry day whose expiry was not published yet.
pub async fn newly_expired(db: &Database, today: NaiveDate) -> Result<Vec<Certificate>, Error> {
    let rows: Vec<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE expiry_published = 0 \
         AND expiry_date < $1 AND revoked_on IS NULL ORDER BY expiry_date LIMIT 500"
    )))
    .bind(today.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(certificate_from).collect()
}

/// Marks an expiry published; false when another replica did.
pub async fn mark_expiry_published(
    tx: &mut AuditedTx,
    number: &str,
    expiry: NaiveDate,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE certificates SET expiry_published = 1 WHERE number = $1 AND expiry_published = 0 AND expiry_date = $2",
    )
    .bind(number)
    .bind(expiry.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ------------------------------------------------------------------------------------------------
// Issuer keys

#[derive(Debug, Clone)]
pub struct IssuerKey {
    pub kid: String,
    pub province: String,
    pub algorithm: String,
    pub private_key: String,
    pub public_x: String,
    /// SM2 keys only: the point's y coordinate.
    pub public_y: String,
    pub create_time: DateTime<Utc>,
    pub retired: bool,
}

impl IssuerKey {
    /// The public half, as credentials are checked against it.
    pub fn public(&self) -> Result<crate::credential::PublicKey, Error> {
        let algorithm =
            crate::credential::KeyAlgorithm::parse(&self.algorithm).ok_or_else(|| {
                Error::internal(anyhow::anyhow!(
                    "issuer key {} has an unknown algorithm {}",
                    self.kid,
                    self.algorithm
                ))
            })?;
        Ok(crate::credential::PublicKey {
            algorithm,
            x: self.public_x.clone(),
            y: self.public_y.clone(),
        })
    }
}

type KeyRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

fn key_from(row: KeyRow) -> Result<IssuerKey, Error> {
    let (kid, province, algorithm, private_key, public_x, public_y, at, retired) = row;
    Ok(IssuerKey {
        kid,
        province,
        algorithm,
        private_key,
        public_x,
        public_y,
        create_time: from_db_time(&at)?,
        retired: retired.is_some(),
    })
}

const KEY_COLUMNS: &str =
    "kid, province, algorithm, private_key, public_x, public_y, create_time, retired_at";

/// The province's current key, read inside the transaction that signs with it.
pub async fn current_key(tx: &mut AuditedTx, province: &str) -> Result<Option<IssuerKey>, Error> {
    let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM issuer_keys WHERE province = $1 AND retired_at IS NULL"
    )))
    .bind(province)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(key_from).transpose()
}

/// Every key of a province, oldest first.
pub async fn keys(db: &Database, province: &str) -> Result<Vec<IssuerKey>, Error> {
    let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM issuer_keys WHERE province = $1 ORDER BY create_time, kid"
    )))
    .bind(province)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(key_from).collect()
}

pub async fn key(db: &Database, kid: &str) -> Result<Option<IssuerKey>, Error> {
    let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM issuer_keys WHERE kid = $1"
    )))
    .bind(kid)
    .fetch_optional(db.pool())
    .await?;
    row.map(key_from).transpose()
}

/// Retires the province's current key (it keeps verifying) and stores `key` as current.
pub async fn rotate_key(
    tx: &mut AuditedTx,
    key: &IssuerKey,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE issuer_keys SET retired_at = $1 WHERE province = $2 AND retired_at IS NULL",
    )
    .bind(to_db_time(now))
    .bind(&key.province)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO issuer_keys (kid, province, algorithm, private_key, public_x, public_y, create_time, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(&key.kid)
    .bind(&key.province)
    .bind(&key.algorithm)
    .bind(&key.private_key)
    .bind(&key.public_x)
    .bind(&key.public_y)
    .bind(to_db_time(key.create_time))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
