//! Regions are the tenancy of the suite: every record carries a 12-digit statistical division code
//! (统计用区划代码) and every caller acts within one. This crate parses codes, answers "does this
//! scope contain that record", and validates codes against the shipped division table (NBS 2023:
//! provinces, cities, county-level areas, streets and residents' committees), optionally extended
//! by a province's own newer codes.

use std::{collections::BTreeMap, fmt, io::Read, path::Path, str::FromStr, sync::LazyLock};

/// The NBS 2023 table, gzipped `code<TAB>name` lines; rebuilt by `data/build_table.py`.
const SHIPPED_TABLE: &[u8] = include_bytes!("../data/regions-2023.tsv.gz");

/// Administrative level of a region code, from the widest to the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 省级, e.g. 440000000000.
    Province,
    /// 地级, e.g. 440300000000.
    City,
    /// 县级 (county or district), e.g. 440305000000.
    County,
    /// 乡级 (street or township), e.g. 440305001000.
    Street,
    /// 村级 (community or village), e.g. 440305001001.
    Community,
}

impl Level {
    /// Number of leading digits that are significant at this level.
    pub const fn significant_digits(self) -> usize {
        match self {
            Level::Province => 2,
            Level::City => 4,
            Level::County => 6,
            Level::Street => 9,
            Level::Community => 12,
        }
    }

    /// Lower-case English name, used in error messages and metadata.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
            Level::Street => "street",
            Level::Community => "community",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a region code, or not a known one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// Not 12 ASCII digits.
    #[error("region code must be 12 digits, got {0:?}")]
    Malformed(String),
    /// Digits that cannot be a division code (zero province, or a community under no street).
    #[error("region code {0} is not a valid division code structure")]
    BadStructure(String),
    /// Well-formed but not in the division table.
    #[error("region code {0} is not a known division")]
    Unknown(String),
    /// Known, but at another level than the operation needs.
    #[error("region code {code} is a {actual}, expected a {expected}")]
    WrongLevel {
        /// The code.
        code: String,
        /// The level required.
        expected: Level,
        /// The level the code has.
        actual: Level,
    },
}

/// A syntactically valid 12-digit region code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode(u64);

impl RegionCode {
    /// Parses 12 ASCII digits and checks the segment structure.
    pub fn parse(text: &str) -> Result<Self, RegionError> {
        if text.len() != 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionError::Malformed(text.to_owned()));
        }
        let value: u64 = text
            .parse()
            .map_err(|_| RegionError::Malformed(text.to_owned()))?;
        let code = RegionCode(value);
        let segment = |from: usize, to: usize| &text[from..to];
        let zero = |from: usize, to: usize| segment(from, to).bytes().all(|b| b == b'0');
        // The province is never zero; a city code with a non-zero county is fine, and cities without
        // counties (东莞, 中山) put streets directly under county "00", so only the community-under-
        // no-street and county-under-no-city shapes are impossible.
        if zero(0, 2) || (!zero(9, 12) && zero(6, 9)) || (zero(2, 4) && !zero(4, 12)) {
            return Err(RegionError::BadStructure(text.to_owned()));
        }
        Ok(code)
    }

    /// The level this code names.
    pub fn level(self) -> Level {
        let v = self.0;
        if !v.is_multiple_of(1_000) {
            Level::Community
        } else if !v.is_multiple_of(1_000_000) {
            Level::Street
        } else if !v.is_multiple_of(100_000_000) {
            Level::County
        } else if !v.is_multiple_of(10_000_000_000) {
            Level::City
        } else {
            Level::Province
        }
    }

    /// True when `other` lies inside this region (a region contains itself).
    pub fn contains(self, other: RegionCode) -> bool {
        let divisor = 10_u64.pow((12 - self.level().significant_digits()) as u32);
        self.0 / divisor == other.0 / divisor
    }

    /// The enclosing region at `level`, or `None` when this code is wider than `level`.
    pub fn ancestor(self, level: Level) -> Option<RegionCode> {
        if level > self.level() {
            return None;
        }
        let divisor = 10_u64.pow((12 - level.significant_digits()) as u32);
        Some(RegionCode(self.0 / divisor * divisor))
    }

    /// The enclosing province.
    pub fn province(self) -> RegionCode {
        RegionCode(self.0 / 10_000_000_000 * 10_000_000_000)
    }

    /// The significant prefix: "44" for a province, "440305" for a district. Records inside the
    /// region are exactly those whose code starts with it, which makes it a SQL `LIKE` prefix.
    pub fn prefix(self) -> String {
        let full = self.to_string();
        full[..self.level().significant_digits()].to_owned()
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({:012})", self.0)
    }
}

impl FromStr for RegionCode {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegionCode::parse(s)
    }
}

/// The division table: every region the suite accepts, with its name.
#[derive(Debug, Clone)]
pub struct Regions {
    names: BTreeMap<RegionCode, Box<str>>,
}

static SHIPPED: LazyLock<Regions> = LazyLock::new(|| {
    let mut text = String::new();
    flate2::read::GzDecoder::new(SHIPPED_TABLE)
        .read_to_string(&mut text)
        .expect("the shipped region table is valid gzip and UTF-8");
    let mut regions = Regions {
        names: BTreeMap::new(),
    };
    regions
        .extend_from_tsv(&text)
        .expect("the shipped region table parses");
    regions
});

impl Regions {
    /// The shipped NBS 2023 table (decompressed once, on first use).
    pub fn shipped() -> &'static Regions {
        &SHIPPED
    }

    /// The shipped table plus a province's own `code<TAB>name` file (newer communities and renamed
    /// streets); later lines win.
    pub fn with_extra_file(path: &Path) -> Result<Regions, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read region file {}: {e}", path.display()))?;
        let mut regions = Regions::shipped().clone();
        regions.extend_from_tsv(&text)?;
        Ok(regions)
    }

    fn extend_from_tsv(&mut self, text: &str) -> Result<(), String> {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (code, name) = line
                .split_once('\t')
                .ok_or_else(|| format!("line {}: expected code<TAB>name", number + 1))?;
            let code = RegionCode::parse(code).map_err(|e| format!("line {}: {e}", number + 1))?;
            self.names.insert(code, name.into());
        }
        Ok(())
    }

    /// Number of regions in the table.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The region's own name, e.g. 南头城社区居委会.
    pub fn name(&self, code: RegionCode) -> Option<&str> {
        self.names.get(&code).map(|n| &**n)
    }

    /// Names from the province down, e.g. "广东省 深圳市 南山区 南头街道 南头城社区居委会".
    pub fn full_name(&self, code: RegionCode) -> Option<String> {
        let own = self.name(code)?;
        let mut parts: Vec<&str> = Vec::new();
        for level in [Level::Province, Level::City, Level::County, Level::Street] {
            if level >= code.level() {
                break;
            }
            if let Some(name) = code.ancestor(level).and_then(|a| self.name(a))
                && parts.last() != Some(&name)
            {
                parts.push(name);
            }
        }
        if parts.last() != Some(&own) {
            parts.push(own);
        }
        Some(parts.join(" "))
    }

    /// Parses `text` and requires the code to be in the table.
    pub fn known(&self, text: &str) -> Result<RegionCode, RegionError> {
        let code = RegionCode::parse(text)?;
        if self.names.contains_key(&code) {
            Ok(code)
        } else {
            Err(RegionError::Unknown(code.to_string()))
        }
    }

    /// Parses `text` and requires a known code at exactly `level`.
    pub fn known_at(&self, text: &str, level: Level) -> Result<RegionCode, RegionError> {
        let code = self.known(text)?;
        if code.level() == level {
            Ok(code)
        } else {
            Err(RegionError::WrongLevel {
                code: code.to_string(),
                expected: level,
                actual: code.level(),
            })
        }
    }

    /// Every known region directly or indirectly inside `scope` at `level`.
    pub fn descendants_at(
        &self,
        scope: RegionCode,
        level: Level,
    ) -> impl Iterator<Item = RegionCode> + '_ {
        self.names
            .range(scope..)
            .map(|(code, _)| *code)
            .take_while(move |code| scope.contains(*code))
            .filter(move |code| code.level() == level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> RegionCode {
        RegionCode::parse(text).unwrap()
    }

    #[test]
    fn a_code_must_be_twelve_digits() {
        for bad in [
            "44030500100",
            "4403050010011",
            "44030500100a",
            "",
            "４４0305001001",
        ] {
            assert!(
                matches!(RegionCode::parse(bad), Err(RegionError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn impossible_structures_are_rejected() {
        // zero province, community under no street, county under no city
        for bad in ["000000000000", "440305000001", "440005000000"] {
            assert!(
                matches!(RegionCode::parse(bad), Err(RegionError::BadStructure(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn level_follows_the_last_non_zero_segment() {
        assert_eq!(code("440000000000").level(), Level::Province);
        assert_eq!(code("440300000000").level(), Level::City);
        assert_eq!(code("440305000000").level(), Level::County);
        assert_eq!(code("440305001000").level(), Level::Street);
        assert_eq!(code("440305001001").level(), Level::Community);
        // Dongguan has no counties: its towns sit under county "00"
        assert_eq!(code("441900101000").level(), Level::Street);
    }

    #[test]
    fn a_scope_contains_exactly_the_codes_under_its_prefix() {
        let nanshan = code("440305000000");
        assert!(nanshan.contains(code("440305001001")));
        assert!(nanshan.contains(nanshan));
        assert!(!nanshan.contains(code("440306001001")));
        assert!(
            !nanshan.contains(code("440300000000")),
            "a district does not contain its city"
        );
        assert!(code("440000000000").contains(code("441900101002")));
        assert_eq!(nanshan.prefix(), "440305");
        assert_eq!(code("441900101000").prefix(), "441900101");
    }

    #[test]
    fn ancestors_truncate_to_their_level() {
        let c = code("440305001001");
        assert_eq!(c.ancestor(Level::County), Some(code("440305000000")));
        assert_eq!(c.province(), code("440000000000"));
        assert_eq!(code("440300000000").ancestor(Level::Street), None);
    }

    #[test]
    fn the_shipped_table_knows_real_communities_and_names_them_in_full() {
        let regions = Regions::shipped();
        assert!(regions.len() > 150_000);
        let c = regions.known("440305001001").unwrap();
        assert_eq!(regions.name(c), Some("南头城社区居委会"));
        assert_eq!(
            regions.full_name(c).unwrap(),
            "广东省 深圳市 南山区 南头街道 南头城社区居委会"
        );
        assert!(matches!(
            regions.known("440305001999"),
            Err(RegionError::Unknown(_))
        ));
        assert!(matches!(
            regions.known_at("440305000000", Level::Community),
            Err(RegionError::WrongLevel { .. })
        ));
    }

    #[test]
    fn descendants_stay_inside_the_scope() {
        let regions = Regions::shipped();
        let nantou = code("440305001000");
        let communities: Vec<_> = regions.descendants_at(nantou, Level::Community).collect();
        assert!(communities.len() > 5);
        assert!(communities.iter().all(|c| nantou.contains(*c)));
    }

    #[test]
    fn an_extra_file_adds_new_communities() {
        let dir = std::env::temp_dir().join(format!("shequ-regions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("extra.tsv");
        std::fs::write(&file, "# new in 2025\n440305001999\t新建社区居委会\n").unwrap();
        let regions = Regions::with_extra_file(&file).unwrap();
        assert!(regions.known("440305001999").is_ok());
        std::fs::write(&file, "44030500199\tbad\n").unwrap();
        assert!(Regions::with_extra_file(&file).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
