//! The 12 source departments of the community brain (DOMAIN.md §4), also the departments that
//! take part in consultations and task forces.

/// A source department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Department {
    /// 气象.
    Weather,
    /// 公安.
    PublicSecurity,
    /// 消防.
    Fire,
    /// 应急管理.
    Emergency,
    /// 卫生健康.
    Health,
    /// 民政.
    CivilAffairs,
    /// 住房和城乡建设.
    Housing,
    /// 城市管理.
    UrbanManagement,
    /// 市场监管.
    MarketRegulation,
    /// 水务.
    Water,
    /// 电力.
    Power,
    /// 网信.
    Cyberspace,
}

impl Department {
    /// All twelve.
    pub const ALL: [Department; 12] = [
        Department::Weather,
        Department::PublicSecurity,
        Department::Fire,
        Department::Emergency,
        Department::Health,
        Department::CivilAffairs,
        Department::Housing,
        Department::UrbanManagement,
        Department::MarketRegulation,
        Department::Water,
        Department::Power,
        Department::Cyberspace,
    ];

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Department::Weather => "WEATHER",
            Department::PublicSecurity => "PUBLIC_SECURITY",
            Department::Fire => "FIRE",
            Department::Emergency => "EMERGENCY",
            Department::Health => "HEALTH",
            Department::CivilAffairs => "CIVIL_AFFAIRS",
            Department::Housing => "HOUSING",
            Department::UrbanManagement => "URBAN_MANAGEMENT",
            Department::MarketRegulation => "MARKET_REGULATION",
            Department::Water => "WATER",
            Department::Power => "POWER",
            Department::Cyberspace => "CYBERSPACE",
        }
    }

    /// The department of a stored code.
    pub fn from_code(code: &str) -> Option<Department> {
        Department::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Departments as stored: comma-separated codes.
    pub fn join(departments: &[Department]) -> String {
        departments
            .iter()
            .map(|d| d.code())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Stored departments.
    pub fn split(text: &str) -> Vec<Department> {
        text.split(',').filter_map(Department::from_code).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_departments_round_trip_through_their_codes() {
        assert_eq!(Department::ALL.len(), 12);
        let joined = Department::join(&Department::ALL);
        assert_eq!(Department::split(&joined), Department::ALL);
        assert!(Department::split("").is_empty());
    }
}
