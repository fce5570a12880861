// The words the no-code forms add around a site's own form, built in for en and zh-CN.
export const FORM_STRINGS = {
  en: {
    consent: "Not sent: allow “%s” in the cookie settings first.",
    open: "Cookie settings",
    tick: "Not sent: tick the box to agree first.",
    check: "Not sent: please correct the marked fields.",
    sending: "Sending…",
    pending: "Not sent: your cookie choice is still being saved. Please try again in a moment.",
    lead: "Thank you. We have received your details and will contact you.",
    subscription: "Almost done: confirm with the link we have sent to your e-mail address.",
    failed: "Could not send. Please try again.",
  },
  "zh-CN": {
    consent: "未发送：请先在 Cookie 设置中允许“%s”。",
    open: "Cookie 设置",
    tick: "未发送：请先勾选同意。",
    check: "未发送：请更正标出的字段。",
    sending: "正在发送…",
    pending: "未发送：您的 Cookie 选择仍在保存中，请稍后再试。",
    lead: "谢谢。我们已收到您的信息，将与您联系。",
    subscription: "即将完成：请点击我们发送到您邮箱的链接进行确认。",
    failed: "发送失败，请重试。",
  },
};
