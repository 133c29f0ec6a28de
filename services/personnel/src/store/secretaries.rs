//! Secretaries and their append-only career events.

use shequ_kit::{Error, call::AuditedTx, convert::to_db_time, regions::RegionCode};

use super::{
    ID_NUMBER, PHONE_NUMBER, Store, date_text, is_unique_violation, region_range, stored_code,
    stored_date, stored_optional_date, stored_region, stored_time,
};
use crate::domain::{
    CareerEvent, Education, Gender, PoliticalStatus, Secretary, Status,
    career::{EventType, Ladder, Rung},
    identity::{IdNumber, PhoneNumber},
    in_force,
    statistics::{Happened, Person},
};

/// The columns a secretary read selects (the benchmark runs the same query through pgbench).
pub const SECRETARY_COLUMNS: &str = "id, region, display_name, gender, birth_date, id_number_enc, phone_number_enc, \
     education, political_status, appointment_date, work_start_date, status, ladder, rung, rung_since, \
     professional_title, left_on, version, create_time, update_time, tenure";

#[derive(sqlx::FromRow)]
struct SecretaryRow {
    id: String,
    region: String,
    display_name: String,
    gender: String,
    birth_date: String,
    id_number_enc: String,
    phone_number_enc: Option<String>,
    education: String,
    political_status: String,
    appointment_date: String,
    work_start_date: String,
    status: String,
    ladder: Option<String>,
    rung: String,
    rung_since: String,
    professional_title: String,
    left_on: Option<String>,
    version: i64,
    create_time: String,
    update_time: String,
    tenure: i64,
}

const EVENT_COLUMNS: &str = "id, secretary_id, type, effective_date, ladder, from_rung, to_rung, from_region, \
     to_region, destination, title, note, recorded_by, create_time, corrects";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    secretary_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    effective_date: String,
    ladder: Option<String>,
    from_rung: Option<String>,
    to_rung: Option<String>,
    from_region: Option<String>,
    to_region: Option<String>,
    destination: String,
    title: String,
    note: String,
    recorded_by: String,
    create_time: String,
    corrects: Option<String>,
}

/// Optional filters of a secretary listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretaryFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this ladder.
    pub ladder: Option<Ladder>,
    /// Only this rung.
    pub rung: Option<Rung>,
}

/// One secretary's facts for statistics, before the events are attached.
pub type StatisticsRow = Person;

impl Store {
    fn decode_secretary(&self, row: SecretaryRow) -> Result<Secretary, Error> {
        let corrupt = |what: &str| Error::internal(anyhow::anyhow!("secretary {}: {what}", row.id));
        let id_number = self
            .keys
            .personal_data
            .decrypt_string(&row.id_number_enc, ID_NUMBER)
            .ok()
            .and_then(|plain| IdNumber::parse(&plain).ok())
            .ok_or_else(|| corrupt("ID number does not decrypt"))?;
        let phone_number = match &row.phone_number_enc {
            None => None,
            Some(enc) => Some(
                self.keys
                    .personal_data
                    .decrypt_string(enc, PHONE_NUMBER)
                    .ok()
                    .and_then(|plain| PhoneNumber::parse(&plain))
                    .ok_or_else(|| corrupt("phone number does not decrypt"))?,
            ),
        };
        Ok(Secretary {
            region: stored_region(&row.region)?,
            gender: stored_code(&row.gender, Gender::from_code, "gender")?,
            birth_date: stored_date(&row.birth_date)?,
            id_number,
            phone_number,
            education: stored_code(&row.education, Education::from_code, "education")?,
            political_status: stored_code(
                &row.political_status,
                PoliticalStatus::from_code,
                "political status",
            )?,
            appointment_date: stored_date(&row.appointment_date)?,
            community_work_start: stored_date(&row.work_start_date)?,
            status: stored_code(&row.status, Status::from_code, "status")?,
            ladder: row
                .ladder
                .as_deref()
                .map(|l| stored_code(l, Ladder::from_code, "ladder"))
                .transpose()?,
            rung: stored_code(&row.rung, Rung::from_code, "rung")?,
            rung_since: stored_date(&row.rung_since)?,
            left_on: stored_optional_date(row.left_on.as_deref())?,
            create_time: stored_time(&row.create_time)?,
            update_time: stored_time(&row.update_time)?,
            id: row.id,
            display_name: row.display_name,
            professional_title: row.professional_title,
            version: row.version,
            tenure: row.tenure as i32,
        })
    }

    /// Stores a new secretary with the appointment event. Fails with ALREADY_EXISTS when the ID
    /// number is registered already.
    pub async fn insert_secretary(
        &self,
        tx: &mut AuditedTx,
        secretary: &Secretary,
        appointment: &CareerEvent,
    ) -> Result<(), Error> {
        let inserted = sqlx::query(
            "INSERT INTO secretaries (id, region, display_name, gender, birth_date, id_number_enc, id_number_index, \
             phone_number_enc, education, political_status, appointment_date, work_start_date, status, ladder, rung, \
             rung_since, professional_title, left_on, version, create_time, update_time, tenure) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        )
        .bind(&secretary.id)
        .bind(secretary.region.to_string())
        .bind(&secretary.display_name)
        .bind(secretary.gender.code())
        .bind(date_text(secretary.birth_date))
        .bind(self.keys.personal_data.encrypt(secretary.id_number.expose().as_bytes(), ID_NUMBER))
        .bind(self.keys.blind_index.of(secretary.id_number.expose(), ID_NUMBER))
        .bind(self.encrypt_phone(secretary.phone_number.as_ref()))
        .bind(secretary.education.code())
        .bind(secretary.political_status.code())
        .bind(date_text(secretary.appointment_date))
        .bind(date_text(secretary.community_work_start))
        .bind(secretary.status.code())
        .bind(secretary.ladder.map(Ladder::code))
        .bind(secretary.rung.code())
        .bind(date_text(secretary.rung_since))
        .bind(&secretary.professional_title)
        .bind(secretary.left_on.map(date_text))
        .bind(secretary.version)
        .bind(to_db_time(secretary.create_time))
        .bind(to_db_time(secretary.update_time))
        .bind(i64::from(secretary.tenure))
        .execute(&mut **tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(id_number_taken()),
            other => other?,
        };
        insert_event(tx, appointment).await?;
        Ok(())
    }

    fn encrypt_phone(&self, phone: Option<&PhoneNumber>) -> Option<String> {
        phone.map(|p| {
            self.keys
                .personal_data
                .encrypt(p.expose().as_bytes(), PHONE_NUMBER)
        })
    }

    /// The secretary with `id`, if any.
    pub async fn secretary(&self, id: &str) -> Result<Option<Secretary>, Error> {
        let sql = format!("SELECT {SECRETARY_COLUMNS} FROM secretaries WHERE id = $1");
        let id = id.to_owned();
        let row: Option<SecretaryRow> = self
            .db
            .read(Box::new(move |connection| {
                let (sql, id) = (sql.clone(), id.clone());
                Box::pin(async move {
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_optional(connection)
                        .await
                })
            }))
            .await?;
        row.map(|r| self.decode_secretary(r)).transpose()
    }

    /// Up to `limit` secretaries inside `scope` after `after_id`, ordered by id.
    pub async fn list_secretaries(
        &self,
        scope: RegionCode,
        filter: SecretaryFilter,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Secretary>, Error> {
        let (low, high) = region_range(scope);
        // Unused filters compare a column with itself, which keeps one SQL text (and one prepared
        // statement) for every combination.
        let sql = format!(
            "SELECT {SECRETARY_COLUMNS} FROM secretaries \
             WHERE region BETWEEN $1 AND $2 AND id > $3 \
               AND ($4 = '' OR status = $4) AND ($5 = '' OR ladder = $5) AND ($6 = '' OR rung = $6) \
             ORDER BY id LIMIT $7"
        );
        let rows: Vec<SecretaryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(low)
            .bind(high)
            .bind(after_id.unwrap_or(""))
            .bind(filter.status.map_or("", Status::code))
            .bind(filter.ladder.map_or("", Ladder::code))
            .bind(filter.rung.map_or("", Rung::code))
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(|r| self.decode_secretary(r)).collect()
    }

    /// Writes changed profile fields if the stored version is still `expected_version`; returns
    /// false when someone else changed the record first.
    pub async fn update_profile(
        &self,
        tx: &mut AuditedTx,
        secretary: &Secretary,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let result = sqlx::query(
            "UPDATE secretaries SET display_name = $1, gender = $2, birth_date = $3, id_number_enc = $4, \
             id_number_index = $5, phone_number_enc = $6, education = $7, political_status = $8, \
             appointment_date = $9, work_start_date = $10, version = $11, update_time = $12 \
             WHERE id = $13 AND version = $14",
        )
        .bind(&secretary.display_name)
        .bind(secretary.gender.code())
        .bind(date_text(secretary.birth_date))
        .bind(self.keys.personal_data.encrypt(secretary.id_number.expose().as_bytes(), ID_NUMBER))
        .bind(self.keys.blind_index.of(secretary.id_number.expose(), ID_NUMBER))
        .bind(self.encrypt_phone(secretary.phone_number.as_ref()))
        .bind(secretary.education.code())
        .bind(secretary.political_status.code())
        .bind(date_text(secretary.appointment_date))
        .bind(date_text(secretary.community_work_start))
        .bind(secretary.version)
        .bind(to_db_time(secretary.update_time))
        .bind(&secretary.id)
        .bind(expected_version)
        .execute(&mut **tx)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(id_number_taken()),
            Err(e) => Err(e.into()),
            Ok(done) => Ok(done.rows_affected() == 1),
        }
    }

    /// Records `event` and the secretary's resulting position and status, atomically, if the
    /// stored version is still `expected_version`; returns false otherwise.
    pub async fn apply_event(
        &self,
        tx: &mut AuditedTx,
        secretary: &Secretary,
        expected_version: i64,
        event: &CareerEvent,
    ) -> Result<bool, Error> {
        let updated = sqlx::query(
            "UPDATE secretaries SET region = $1, status = $2, ladder = $3, rung = $4, rung_since = $5, \
             professional_title = $6, left_on = $7, version = $8, update_time = $9, \
             appointment_date = $12, tenure = $13 WHERE id = $10 AND version = $11",
        )
        .bind(secretary.region.to_string())
        .bind(secretary.status.code())
        .bind(secretary.ladder.map(Ladder::code))
        .bind(secretary.rung.code())
        .bind(date_text(secretary.rung_since))
        .bind(&secretary.professional_title)
        .bind(secretary.left_on.map(date_text))
        .bind(secretary.version)
        .bind(to_db_time(secretary.update_time))
        .bind(&secretary.id)
        .bind(expected_version)
        .bind(date_text(secretary.appointment_date))
        .bind(i64::from(secretary.tenure))
        .execute(&mut **tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        insert_event(tx, event).await?;
        Ok(true)
    }

    /// A secretary's whole career history, in the order it was recorded (corrections included).
    pub async fn history(&self, secretary_id: &str) -> Result<Vec<CareerEvent>, Error> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM career_events WHERE secretary_id = $1 ORDER BY seq"
        );
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(secretary_id)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter().map(decode_event).collect()
    }

    /// One event of a secretary.
    pub async fn career_event(
        &self,
        secretary_id: &str,
        event_id: &str,
    ) -> Result<Option<CareerEvent>, Error> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM career_events WHERE secretary_id = $1 AND id = $2"
        );
        let row: Option<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(secretary_id)
            .bind(event_id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(decode_event).transpose()
    }

    /// Up to `limit` events of a secretary after position `after_seq`, oldest first, with their
    /// positions.
    pub async fn career_events(
        &self,
        secretary_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, CareerEvent)>, Error> {
        let sql = format!(
            "SELECT seq, {EVENT_COLUMNS} FROM career_events WHERE secretary_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let rows: Vec<(i64, EventRow)> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(secretary_id)
            .bind(after_seq)
            .bind(limit as i64)
            .try_map(|row: sqlx::any::AnyRow| {
                use sqlx::{FromRow, Row};
                Ok((row.try_get::<i64, _>("seq")?, EventRow::from_row(&row)?))
            })
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter()
            .map(|(seq, row)| decode_event(row).map(|e| (seq, e)))
            .collect()
    }

    /// Every secretary who ever served inside `scope` (now, or by an appointment or a
    /// reassignment into or out of it), with their history in force.
    pub async fn statistics_rows(&self, scope: RegionCode) -> Result<Vec<StatisticsRow>, Error> {
        let (low, high) = region_range(scope);
        let concerned = "(SELECT id FROM secretaries WHERE region BETWEEN $1 AND $2 \
             UNION SELECT secretary_id FROM career_events \
             WHERE to_region BETWEEN $1 AND $2 OR from_region BETWEEN $1 AND $2)";
        let people: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, birth_date, work_start_date FROM secretaries WHERE id IN {concerned} ORDER BY id"
        )))
        .bind(&low)
        .bind(&high)
        .fetch_all(self.db.pool())
        .await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM career_events WHERE secretary_id IN {concerned} \
             ORDER BY secretary_id, seq"
        );
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&low)
            .bind(&high)
            .fetch_all(self.db.pool())
            .await?;
        let mut certificates = self
            .certificates_of_concerned(&low, &high, concerned)
            .await?;
        let mut histories: std::collections::HashMap<String, Vec<CareerEvent>> =
            std::collections::HashMap::new();
        for row in rows {
            let event = decode_event(row)?;
            histories
                .entry(event.secretary_id.clone())
                .or_default()
                .push(event);
        }
        people
            .into_iter()
            .map(|(id, birth, work)| {
                let history = histories.remove(&id).unwrap_or_default();
                Ok(Person {
                    certificates: certificates.remove(&id).unwrap_or_default(),
                    birth_date: stored_date(&birth)?,
                    community_work_start: stored_date(&work)?,
                    history: in_force(&history)
                        .into_iter()
                        .map(|(event, date)| Happened {
                            kind: event.kind,
                            date,
                            to_region: event.to_region,
                        })
                        .collect(),
                })
            })
            .collect()
    }
}

fn id_number_taken() -> Error {
    Error::AlreadyExists {
        reason: "SECRETARY_ID_NUMBER_TAKEN",
        message: "a secretary with this ID number is already registered".to_owned(),
        resource: None,
    }
}

async fn insert_event(tx: &mut AuditedTx, event: &CareerEvent) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO career_events (id, secretary_id, seq, type, effective_date, ladder, from_rung, to_rung, \
         from_region, to_region, destination, title, note, recorded_by, create_time, corrects) \
         VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM career_events WHERE secretary_id = $2), \
         $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&event.id)
    .bind(&event.secretary_id)
    .bind(event.kind.code())
    .bind(date_text(event.effective_date))
    .bind(event.ladder.map(Ladder::code))
    .bind(event.from_rung.map(Rung::code))
    .bind(event.to_rung.map(Rung::code))
    .bind(event.from_region.map(|r| r.to_string()))
    .bind(event.to_region.map(|r| r.to_string()))
    .bind(&event.destination)
    .bind(&event.title)
    .bind(&event.note)
    .bind(&event.recorded_by)
    .bind(to_db_time(event.create_time))
    .bind(event.corrects.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn decode_event(row: EventRow) -> Result<CareerEvent, Error> {
    let rung = |r: Option<String>| {
        r.map(|r| stored_code(&r, Rung::from_code, "rung"))
            .transpose()
    };
    let region = |r: Option<String>| r.map(|r| stored_region(&r)).transpose();
    Ok(CareerEvent {
        kind: stored_code(&row.kind, EventType::from_code, "event type")?,
        effective_date: stored_date(&row.effective_date)?,
        ladder: row
            .ladder
            .map(|l| stored_code(&l, Ladder::from_code, "ladder"))
            .transpose()?,
        from_rung: rung(row.from_rung)?,
        to_rung: rung(row.to_rung)?,
        from_region: region(row.from_region)?,
        to_region: region(row.to_region)?,
        create_time: stored_time(&row.create_time)?,
        id: row.id,
        secretary_id: row.secretary_id,
        destination: row.destination,
        title: row.title,
        note: row.note,
        recorded_by: row.recorded_by,
        corrects: row.corrects,
    })
}
