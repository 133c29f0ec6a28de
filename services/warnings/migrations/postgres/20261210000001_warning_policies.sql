-- Warnings: each province's deadline hours per colour; a province without a row uses the shipped
-- default (blue 48, yellow 72, red 24).
CREATE TABLE warning_policies (
    province                  TEXT PRIMARY KEY,   -- 12-digit province code
    blue_response_hours       BIGINT NOT NULL,
    yellow_consultation_hours BIGINT NOT NULL,
    red_task_force_hours      BIGINT NOT NULL,
    version                   BIGINT NOT NULL,
    update_time               TEXT NOT NULL
);
