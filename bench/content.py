"""Generated guidance articles: DocFX-like markdown in five languages, with aligned English segments.

Every article is built from a small parallel corpus (the same sentence in English, Japanese, Simplified
Chinese, Traditional Chinese and Russian), shaped like Partner Center's articles: a title, an "Applies to"
block, an introduction, sections with lists, DocFX notes, links to other articles and a table.

The same structure is written two ways: as DocFX files (what `import_guidance` reads, for the import
benchmark) and as the rows an import produces (for loading 1,000 articles quickly with bulk_create).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

LANGUAGES = ("en", "ja", "zh-hans", "zh-hant", "ru")
# The DocFX locale of each language, and whether its file carries aligned spans (the Russian one does
# not, like the Russian seed file: bilingual reading is then not available for it).
LOCALES = {"en": "en-us", "ja": "ja-jp", "zh-hans": "zh-cn", "zh-hant": "zh-tw", "ru": "ru-ru"}
WITH_SPANS = ("ja", "zh-hans", "zh-hant")

# (English, Japanese, Simplified Chinese, Traditional Chinese, Russian)
SENTENCES = [
    (
        "You own the billing relationship with your customers.",
        "パートナーは、顧客との請求関係に責任を負います。",
        "你拥有与客户的账单关系。",
        "您擁有與客戶的帳單關係。",
        "Вы отвечаете за отношения с клиентами в части выставления счетов.",
    ),
    (
        "Answer every billing question your customers ask.",
        "顧客からの請求に関するすべての質問に回答します。",
        "回答客户提出的每个账单问题。",
        "回答客戶提出的每個帳單問題。",
        "Отвечайте на все вопросы клиентов о счетах.",
    ),
    (
        "Check the invoice number before you open a dispute.",
        "異議を申し立てる前に請求書番号を確認してください。",
        "提出争议之前，请检查发票编号。",
        "提出爭議之前，請檢查發票編號。",
        "Проверьте номер счета, прежде чем открыть спор.",
    ),
    (
        "Reconcile the invoice with the usage file of the same billing period.",
        "同じ請求期間の使用状況ファイルと請求書を照合します。",
        "将发票与同一计费周期的使用情况文件进行核对。",
        "將發票與同一計費週期的使用量檔案進行核對。",
        "Сверьте счет с файлом использования за тот же расчетный период.",
    ),
    (
        "Partner Center shows the charges of each subscription by day.",
        "パートナー センターには、各サブスクリプションの料金が日ごとに表示されます。",
        "合作伙伴中心按天显示每个订阅的费用。",
        "合作夥伴中心會依日顯示每個訂閱的費用。",
        "Центр партнеров показывает расходы по каждой подписке за каждый день.",
    ),
    (
        "A credit appears on the next invoice after Microsoft approves it.",
        "マイクロソフトが承認すると、クレジットは次の請求書に表示されます。",
        "Microsoft 批准后，抵扣额会显示在下一张发票上。",
        "Microsoft 核准後，抵免額會顯示在下一張發票上。",
        "Кредит появляется в следующем счете после одобрения Microsoft.",
    ),
    (
        "Escalate the case when you cannot resolve it yourself.",
        "自分で解決できない場合は、ケースをエスカレートします。",
        "如果无法自行解决，请上报该案例。",
        "如果無法自行解決，請呈報該案例。",
        "Передайте обращение выше, если не можете решить его сами.",
    ),
    (
        "Include the support request number in every message to Microsoft.",
        "マイクロソフトへのすべてのメッセージにサポート リクエスト番号を含めます。",
        "在发给 Microsoft 的每条消息中都包含支持请求编号。",
        "在傳送給 Microsoft 的每則訊息中都包含支援要求編號。",
        "Указывайте номер запроса в службу поддержки в каждом сообщении Microsoft.",
    ),
    (
        "Customers who do not pay may have their subscriptions suspended.",
        "支払いを行わない顧客は、サブスクリプションが停止される場合があります。",
        "不付款的客户的订阅可能会被暂停。",
        "未付款客戶的訂閱可能會遭到暫停。",
        "Подписки клиентов, которые не платят, могут быть приостановлены.",
    ),
    (
        "You are responsible for payment to Microsoft.",
        "貴社は、マイクロソフトへの支払い義務を負うものとします。",
        "你负责向 Microsoft 付款。",
        "您負責向 Microsoft 付款。",
        "Вы несете ответственность за оплату Microsoft.",
    ),
    (
        "Keep the evidence of the disputed charge with the case.",
        "異議のある料金の証拠をケースと一緒に保管します。",
        "将争议费用的证据与案例一起保存。",
        "將爭議費用的證據與案例一起保存。",
        "Храните подтверждение оспариваемого списания вместе с обращением.",
    ),
    (
        "Tell the customer when the case is resolved.",
        "ケースが解決したら顧客に伝えます。",
        "案例解决后告知客户。",
        "案例解決後告知客戶。",
        "Сообщите клиенту, когда обращение будет решено.",
    ),
    (
        "Prices in Partner Center are in the currency of the customer's country.",
        "パートナー センターの価格は、顧客の国の通貨で表示されます。",
        "合作伙伴中心的价格以客户所在国家或地区的货币表示。",
        "合作夥伴中心的價格以客戶所在國家或地區的貨幣表示。",
        "Цены в Центре партнеров указаны в валюте страны клиента.",
    ),
    (
        "A prorated charge covers part of a month.",
        "日割り料金は、月の一部を対象とします。",
        "按比例计算的费用涵盖一个月的一部分。",
        "按比例計算的費用涵蓋一個月的一部分。",
        "Пропорциональное списание охватывает часть месяца.",
    ),
    (
        "Reservations are billed in full at purchase or monthly.",
        "予約は、購入時に一括で、または毎月請求されます。",
        "预留在购买时一次性计费或按月计费。",
        "保留執行個體會在購買時一次計費或按月計費。",
        "Резервирования оплачиваются полностью при покупке или ежемесячно.",
    ),
    (
        "Review the reconciliation file every month.",
        "毎月、照合ファイルを確認します。",
        "每月查看对账文件。",
        "每月檢閱對帳檔案。",
        "Проверяйте файл сверки каждый месяц.",
    ),
    (
        "Only billing admins and global admins can see invoices.",
        "請求書を表示できるのは、課金管理者と全体管理者のみです。",
        "只有账单管理员和全局管理员才能查看发票。",
        "只有帳單管理員和全域管理員才能檢視發票。",
        "Счета видят только администраторы выставления счетов и глобальные администраторы.",
    ),
    (
        "Get product training through the partner network.",
        "パートナー ネットワークを通じて製品トレーニングを受けます。",
        "通过合作伙伴网络获取产品培训。",
        "透過合作夥伴網路取得產品訓練。",
        "Проходите обучение по продуктам через партнерскую сеть.",
    ),
    (
        "Purchase a support plan for faster technical answers.",
        "より迅速な技術的回答を得るには、サポート プランを購入します。",
        "购买支持计划以更快获得技术解答。",
        "購買支援方案以更快取得技術解答。",
        "Приобретите план поддержки, чтобы быстрее получать технические ответы.",
    ),
    (
        "The severity of the case sets the first response target.",
        "ケースの重大度によって、最初の応答の目標が決まります。",
        "案例的严重性决定首次响应目标。",
        "案例的嚴重性決定首次回應目標。",
        "Серьезность обращения определяет срок первого ответа.",
    ),
    (
        "Cancel a subscription within the cancellation window to get a refund.",
        "返金を受けるには、キャンセル期間内にサブスクリプションを取り消します。",
        "在取消期限内取消订阅即可获得退款。",
        "在取消期限內取消訂閱即可獲得退款。",
        "Отмените подписку в течение периода отмены, чтобы получить возврат средств.",
    ),
    (
        "Taxes depend on where the customer is located.",
        "税金は顧客の所在地によって異なります。",
        "税费取决于客户所在地。",
        "稅金取決於客戶所在地。",
        "Налоги зависят от местонахождения клиента.",
    ),
]

HEADINGS = [
    (
        "Microsoft resources",
        "マイクロソフトのリソース",
        "Microsoft 资源",
        "Microsoft 資源",
        "Ресурсы Microsoft",
    ),
    ("Delinquent customer accounts", "滞納者の顧客アカウント", "拖欠客户帐户", "拖欠客戶帳戶", "Должники"),
    (
        "Before you open a case",
        "ケースを開く前に",
        "提交案例之前",
        "提交案例之前",
        "Перед открытием обращения",
    ),
    ("Reconcile your invoice", "請求書を照合する", "核对发票", "核對發票", "Сверка счета"),
    ("Escalate a dispute", "異議をエスカレートする", "上报争议", "呈報爭議", "Передача спора"),
    ("Credits and refunds", "クレジットと返金", "抵扣和退款", "抵免與退款", "Кредиты и возвраты"),
    ("Close the loop", "顧客への連絡", "通知客户", "通知客戶", "Обратная связь с клиентом"),
    ("Next steps", "次の手順", "后续步骤", "後續步驟", "Дальнейшие действия"),
]

TOPICS = [
    ("Invoice reconciliation", "請求書の照合", "发票核对", "發票核對", "Сверка счетов"),
    ("Billing disputes", "請求に関する異議", "账单争议", "帳單爭議", "Споры по счетам"),
    ("Prorated charges", "日割り料金", "按比例计费", "按比例計費", "Пропорциональные списания"),
    ("Reservation billing", "予約の請求", "预留计费", "保留執行個體計費", "Оплата резервирований"),
    ("Customer credits", "顧客へのクレジット", "客户抵扣", "客戶抵免", "Кредиты клиентам"),
    ("Non-payment", "未払い", "未付款", "未付款", "Неоплата"),
    ("Tax questions", "税金に関する質問", "税务问题", "稅務問題", "Вопросы о налогах"),
    ("Support plans", "サポート プラン", "支持计划", "支援方案", "Планы поддержки"),
]

APPLIES_TO = (
    ("Applies to", "適用対象", "适用于", "適用於", "Применимо к"),
    ("Partner Center", "パートナー センター", "合作伙伴中心", "合作夥伴中心", "Центр партнеров"),
)
NOTE_LABEL = "> [!NOTE]"
COLUMNS = ("Item", "項目", "项目", "項目", "Элемент")


def slug_for(index: int, prefix: str = "billing-guide") -> str:
    return f"{prefix}-{index:04d}"


@dataclass
class Generated:
    """One article in all five languages: markdown bodies, titles, descriptions and aligned segments."""

    slug: str
    asset_id: str
    source_hash: str
    title: dict[str, str]
    description: dict[str, str]
    body: dict[str, str]
    # language -> [(segment id, English, translation)]
    segments: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    # language -> the DocFX body with <span data-ttu-id> / sxs-lookup twins (files with spans only)
    span_body: dict[str, str] = field(default_factory=dict)


class _Writer:
    """Builds every language's markdown at once, one aligned segment at a time."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.counter = 103
        self.plain = {lang: [] for lang in LANGUAGES}
        self.spans = {lang: [] for lang in WITH_SPANS}
        self.segments: dict[str, list[tuple[str, str, str]]] = {lang: [] for lang in WITH_SPANS}

    def raw(self, text: str | dict[str, str]) -> None:
        for lang in LANGUAGES:
            value = text if isinstance(text, str) else text[lang]
            self.plain[lang].append(value)
            if lang in self.spans:
                self.spans[lang].append(value)

    def segment(self, texts: tuple[str, ...]) -> None:
        """One sentence, translated: plain text for the bodies, a span pair for the DocFX files."""
        sid = f"{self.prefix}-{self.counter}"
        self.counter += 1
        english = texts[0]
        for index, lang in enumerate(LANGUAGES):
            self.plain[lang].append(texts[index])
            if lang in self.spans:
                self.spans[lang].append(
                    f'<span data-ttu-id="{sid}">{texts[index]}</span>'
                    f'<span class="sxs-lookup"><span data-stu-id="{sid}">{english}</span></span>'
                )
                self.segments[lang].append((sid, english, texts[index]))

    def result(self) -> tuple[dict[str, str], dict[str, str]]:
        plain = {lang: "".join(parts).strip() + "\n" for lang, parts in self.plain.items()}
        spans = {lang: "".join(parts).strip() + "\n" for lang, parts in self.spans.items()}
        return plain, spans


def _joined(sentences: list[tuple[str, ...]], lang_index: int) -> str:
    separator = " " if LANGUAGES[lang_index] in ("en", "ru") else ""
    return separator.join(s[lang_index] for s in sentences)


def generate(index: int, *, prefix: str = "billing-guide", count: int = 1000) -> Generated:
    """Article number index of count (links point at other articles of the same set)."""
    rng = random.Random(f"{prefix}-{index}")  # noqa: S311 - reproducible data, not secrets
    slug = slug_for(index, prefix)
    hex_id = f"{(index * 2654435761) % 0xFFFFF:05x}"
    topic = TOPICS[index % len(TOPICS)]
    w = _Writer(hex_id)

    title = {lang: f"{topic[i]} {index + 1}" for i, lang in enumerate(LANGUAGES)}
    w.raw("# ")
    w.segment(tuple(title[lang] for lang in LANGUAGES))
    w.raw("\n\n**")
    w.segment(APPLIES_TO[0])
    w.raw("**\n\n- ")
    w.segment(APPLIES_TO[1])
    w.raw("\n\n")
    intro = rng.sample(SENTENCES, 2)
    for number, sentence in enumerate(intro):
        if number:
            w.raw({lang: " " if lang in ("en", "ru") else "" for lang in LANGUAGES})
        w.segment(sentence)
    w.raw("\n\n")
    description = {lang: _joined(intro[:1], i) for i, lang in enumerate(LANGUAGES)}

    for section in rng.sample(range(len(HEADINGS)), rng.randint(4, 6)):
        w.raw("## ")
        w.segment(HEADINGS[section])
        w.raw("\n\n")
        for number, sentence in enumerate(rng.sample(SENTENCES, rng.randint(2, 4))):
            if number:
                w.raw({lang: " " if lang in ("en", "ru") else "" for lang in LANGUAGES})
            w.segment(sentence)
        w.raw("\n\n")
        for sentence in rng.sample(SENTENCES, rng.randint(3, 5)):
            w.raw("- ")
            w.segment(sentence)
            w.raw("\n")
        w.raw("\n")
        if rng.random() < 0.4:
            w.raw(f"{NOTE_LABEL}\n> ")
            w.segment(rng.choice(SENTENCES))
            w.raw("\n\n")
        if rng.random() < 0.5:
            other = slug_for(rng.randrange(count), prefix)
            link_title = TOPICS[rng.randrange(len(TOPICS))]
            w.raw({lang: f"[{link_title[i]}]({other}.md)" for i, lang in enumerate(LANGUAGES)})
            w.raw("\n\n")
        if rng.random() < 0.25:
            w.raw({lang: f"| {COLUMNS[i]} | # |\n|---|---|\n" for i, lang in enumerate(LANGUAGES)})
            for row, sentence in enumerate(rng.sample(SENTENCES, 3)):
                w.raw("| ")
                w.segment(sentence)
                w.raw(f" | {row + 1} |\n")
            w.raw("\n")

    body, span_body = w.result()
    digest = hashlib.sha1(body["en"].encode()).hexdigest()  # noqa: S324 - a revision id, not security
    return Generated(
        slug=slug,
        asset_id=f"{index:08X}-BE4C-4E0A-9A1B-{digest[:12].upper()}",
        source_hash=digest,
        title=title,
        description=description,
        body=body,
        segments=w.segments,
        span_body=span_body,
    )


def docfx_file(article: Generated, language: str) -> str:
    """The article as a localized DocFX markdown file."""
    locale = LOCALES[language]
    lines = [
        "---",
        f'title: "{article.title[language]} | Partner Center"',
        f'description: "{article.description[language]}"',
        f"ms.assetid: {article.asset_id}",
        f"ms.openlocfilehash: {article.source_hash}",
        "ms.sourcegitcommit: 0b00306bfb0b406e64ad857cb360de4533740e6a",
        f"ms.contentlocale: {locale}",
        "ms.date: 03/01/2024",
    ]
    if language != "en":
        lines.append("ms.translationtype: HT")
    lines.append("---")
    body = article.span_body[language] if language in WITH_SPANS else article.body[language]
    return "\n".join(lines) + "\n" + body
