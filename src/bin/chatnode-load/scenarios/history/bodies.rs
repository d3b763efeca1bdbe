//! Message bodies like a chat's: ~80 bytes on average (20-140), half Latin words, half
//! Chinese, both skewed as natural text is (a few words and characters are very common,
//! most are rare), so the store compresses and the index tokenizes about as it would.

use rand::{rngs::StdRng, Rng, SeedableRng};

/// Common Chinese characters, most frequent first.
const HAN: &str = concat!(
    "的一是不了人我在有他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于",
    "着下自之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还",
    "进好小部其些主样理心她本前开但因只从想实日军者意无力它与长把机十民第公此已工使情",
    "明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政美相见被利什二等产或",
    "新己制身果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原东声提立及比员",
    "解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报才结反受目太",
    "量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决治展马科司五基",
    "眼书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程北边死张该交",
    "规万取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每济",
    "车亲极林服快办议往元英士证近失转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调",
    "深商算质团集百需价花党华城石级整府离况亚请技际约示复病息究线似官火断精满支视消越",
    "器容照须九增研写称企八功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃图念六引历",
    "首医局突专费号尽另周较注语仅考落青随选列武红响虽推势参希古众构房半节土投某案黑维",
    "革划敌致陈律足态护七兴派孩验责营星够章音跟志底站严巴例防族供效续施留讲型料终答紧",
    "黄绝奇察母京段依批群项故按河米围江织害斗双境客纪采举杀攻父苏密低朝友诉止细愿千值",
    "仍男钱破网热助倒育属坐帝限船脸职速刻乐否刚威毛状率甚独球般普怕弹校苦创假久错承印",
    "晚兰试股拿脑预谁益阳若哪微尼继送急血惊伤素药适波夜省初喜卫源食险待述陆习置居劳财",
    "环排福纳欢雷警获模充负云停木游龙树疑层冷洲冲射略范竟句室异激汉村哈策演简卡罪判担",
    "州静退既衣您宗积余痛检差富灵协角占配征修皮挥胜降阶审沉坚善妈刘读啊超免压银买皇养",
    "伊怀执副乱抗犯追帮宣佛岁航优怪香著田铁控税左右份穿艺背阵草脚概恶块顿敢守酒岛托央",
    "户烈洋哥索胡款靠评版宝座释景顾弟登货互付伯慢欧换闻危忙核暗姐介坏讨丽良序升监临亮",
    "露永呼味野架域沙掉括舰鱼杂误湾吉减编楚肯测败屋跑梦散温困剑渐封救贵枪缺楼县尚毫移",
    "娘朋画班智亦耳恩短掌恐遗固席松秘谢鲁遇康虑幸均销钟诗藏赶剧票损忽巨炮旧端探湖录叶",
    "春乡附吸予礼港雨呀板庭妇归睛饭额含顺输摇招婚脱补谓督毒油疗旅泽材灭逐莫笔亡鲜词圣",
    "择寻厂睡博勒烟授诺伦岸奥唐卖俄炸载洛健堂旁宫喝借君禁阴园谋宋避抓荣姑孙逃牙束跳顶",
);

/// Syllables of the made-up Latin words.
const SYLLABLES: [&str; 28] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fu", "go", "hi", "ja", "ke", "pa",
    "qu", "ri", "su", "te", "wa", "yo", "zo", "an", "el", "in", "or", "us",
];

/// The words and characters bodies are made of.
pub struct Bodies {
    words: Vec<String>,
    han: Vec<char>,
}

impl Bodies {
    /// The same vocabulary every run: 3,000 words of 2-4 syllables, 1,000 characters.
    pub fn new() -> Bodies {
        let mut rng = StdRng::seed_from_u64(1);
        let words = (0..3000)
            .map(|_| {
                let n = rng.gen_range(2..=4);
                (0..n)
                    .map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())])
                    .collect()
            })
            .collect();
        let han = HAN.chars().collect();
        Bodies { words, han }
    }

    /// A skewed pick of 0..n: low indexes are much more common.
    fn skewed(rng: &mut StdRng, n: usize) -> usize {
        ((rng.gen::<f64>().powi(3)) * n as f64) as usize % n.max(1)
    }

    /// One body of 20-140 bytes (UTF-8), Latin or Chinese with equal odds.
    pub fn body(&self, rng: &mut StdRng) -> String {
        let target = rng.gen_range(18..=136);
        let mut s = String::with_capacity(target + 16);
        if rng.gen_bool(0.5) || self.han.is_empty() {
            while s.len() < target {
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(&self.words[Self::skewed(rng, self.words.len())]);
            }
        } else {
            while s.len() < target {
                s.push(self.han[Self::skewed(rng, self.han.len())]);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_average_about_80_bytes() {
        let bodies = Bodies::new();
        let mut rng = StdRng::seed_from_u64(3);
        let n = 20_000;
        let total: usize = (0..n).map(|_| bodies.body(&mut rng).len()).sum();
        let mean = total as f64 / n as f64;
        assert!((75.0..=85.0).contains(&mean), "mean {mean}");
    }
}
