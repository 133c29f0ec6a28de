//! 负面清单: the catalogue of prohibited behaviours (the source calls for "负面清单30条" in the
//! proposed 《社区书记队伍建设条例》 without listing them). The 30 shipped items below are our
//! **Decision**, grouped as political discipline, integrity, mass work, conduct of office and data
//! protection; a province may retitle, retire or add items.

/// One shipped item: identifier, title, description.
pub type DefaultItem = (&'static str, &'static str, &'static str);

/// The shipped catalogue, NL01..NL30.
pub const DEFAULT_ITEMS: [DefaultItem; 30] = [
    (
        "NL01",
        "违反政治纪律",
        "公开发表违背党的路线方针政策的言论，或参与非法组织活动",
    ),
    (
        "NL02",
        "违反组织纪律",
        "不执行党组织决定，或在选举、人事工作中拉票贿选、违规操作",
    ),
    (
        "NL03",
        "瞒报漏报重大事项",
        "对辖区重大突发事件、重大风险隐患瞒报、迟报、漏报",
    ),
    (
        "NL04",
        "违规收受财物",
        "收受辖区居民、企业、物业等单位或个人的礼品礼金、消费卡",
    ),
    (
        "NL05",
        "侵占挪用集体资金",
        "侵占、挪用、截留社区集体资金、专项经费或惠民资金",
    ),
    (
        "NL06",
        "优亲厚友",
        "在低保、救助、补贴等事项中为亲友谋取不正当利益",
    ),
    ("NL07", "吃拿卡要", "办理群众事项时故意刁难、索取好处"),
    (
        "NL08",
        "违规插手工程项目",
        "违规干预社区工程建设、物资采购、服务外包等项目",
    ),
    ("NL09", "违规经商办企业", "违规经商办企业或在企业兼职取酬"),
    (
        "NL10",
        "公款吃喝旅游",
        "用公款支付宴请、旅游、娱乐等个人消费",
    ),
    ("NL11", "虚报冒领", "虚报冒领补贴、津贴或工作经费"),
    ("NL12", "违规使用公章", "违规出具证明材料或滥用社区公章"),
    (
        "NL13",
        "对群众诉求推诿扯皮",
        "对居民合理诉求推诿、拖延、不作为",
    ),
    (
        "NL14",
        "态度粗暴",
        "对待群众态度恶劣、言行粗暴，造成不良影响",
    ),
    ("NL15", "弄虚作假", "在考核、统计、台账中弄虚作假"),
    (
        "NL16",
        "形式主义",
        "重痕迹轻实效，以会议落实会议、以文件落实文件",
    ),
    ("NL17", "擅离职守", "重大活动、防汛防疫等关键时期擅离职守"),
    (
        "NL18",
        "处置突发事件不力",
        "应急处置不力导致事态扩大或造成严重后果",
    ),
    (
        "NL19",
        "违规决策",
        "未经居民会议或“四议两公开”程序擅自决定重大事项",
    ),
    (
        "NL20",
        "党务居务不公开",
        "应公开的党务、居务、财务事项不公开或公开不实",
    ),
    (
        "NL21",
        "泄露居民个人信息",
        "违规查询、泄露、买卖居民个人信息",
    ),
    (
        "NL22",
        "违规使用数据平台",
        "违规导出、转发社区治理平台数据，或出借账号",
    ),
    ("NL23", "打击报复", "对检举、控告、批评人员打击报复"),
    ("NL24", "参与赌博", "参与赌博或为赌博提供便利"),
    ("NL25", "酒驾醉驾", "酒后驾驶机动车"),
    ("NL26", "涉黑涉恶", "与黑恶势力勾连或充当“保护伞”"),
    (
        "NL27",
        "参与非法宗教活动",
        "参与、支持非法宗教或封建迷信活动",
    ),
    (
        "NL28",
        "违反廉洁自律",
        "违规借用管理服务对象钱款、住房、车辆",
    ),
    ("NL29", "违反生活纪律", "生活作风不检点，造成不良社会影响"),
    (
        "NL30",
        "其他严重违纪违规",
        "其他经党组织认定的严重违纪违规行为",
    ),
];

/// Rules for the identifier of a new item: 1-16 characters of A-Z, 0-9 and '-'.
pub fn valid_item_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_distinct_items_are_shipped() {
        let mut ids: Vec<_> = DEFAULT_ITEMS.iter().map(|(id, _, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        assert!(
            DEFAULT_ITEMS
                .iter()
                .all(|(id, title, _)| valid_item_id(id) && !title.is_empty())
        );
    }

    #[test]
    fn item_ids_are_short_upper_case_codes() {
        assert!(valid_item_id("NL31"));
        assert!(valid_item_id("GD-2025-01"));
        assert!(!valid_item_id("nl31"));
        assert!(!valid_item_id(""));
        assert!(!valid_item_id("THIS-ID-IS-FAR-TOO-LONG"));
    }
}
