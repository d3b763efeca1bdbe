// Every string the client shows, in English and Simplified Chinese, chosen from the
// browser's languages. t(key, {var}) fills {var} placeholders.
const en = {
  settings: 'Settings', welcomeTitle: 'Your node is ready', welcomeText: 'You are its admin. Invite people from Settings, then start a conversation.',
  welcomeInvite: 'Invite people', invited: 'You were invited to this node: choose a username and a password.',
  'err.badInvite': 'This invite link does not work any more. Ask for a new one.', 'err.needInvite': 'This node needs an invite to register. Ask its admin for a link.',
  'set.profile': 'Profile', 'set.password': 'Password', 'set.devices': 'Devices', 'set.invites': 'Invites', 'set.admin': 'Admin',
  'set.displayName': 'Display name', 'set.saveName': 'Save name', 'set.saved': 'Saved.', 'set.chooseAvatar': 'Choose a picture…',
  'set.avatarPreview': 'Picture preview, cropped square', 'set.zoom': 'Zoom', 'set.useAvatar': 'Use this picture',
  'set.pwOld': 'Current password', 'set.pwNew': 'New password (at least 8 characters)', 'set.pwChange': 'Change password',
  'set.pwChanged': 'Password changed. Your other devices were logged out.', 'set.pwWrong': 'The current password is not right.',
  'set.unknownDevice': 'Unknown device', 'set.thisDevice': 'this device', 'set.lastSeen': 'Last active {when}',
  'set.revoke': 'Revoke', 'set.revokeDevice': 'Revoke {name}', 'set.revokeQ': 'Log this device out?', 'set.revokeSelfQ': 'Log out this device (the one you are using)?',
  'set.inviteLink': 'Invite link', 'set.copyLink': 'Copy link', 'set.qr': 'QR code of the invite link', 'set.inviteUsesLabel': 'Uses',
  'set.makeInvite': 'Create invite link', 'set.inviteUses': '{left} uses left ({used} used)', 'set.expires': 'Expires {when}',
  'set.inviteRevokeQ': 'Revoke this invite link?', 'set.addUser': 'Add user', 'set.userAdded': 'User added.',
  'set.makeAdmin': 'Make admin', 'set.unmakeAdmin': 'Remove admin', 'set.disable': 'Disable', 'set.enable': 'Enable',
  'set.disabled': 'disabled', 'set.delete': 'Delete', 'set.deleteUserQ': 'Delete the account {name}? This cannot be undone.',
  appName: 'chatnode', logIn: 'Log in', register: 'Register', createAccount: 'Create account',
  username: 'Username', password: 'Password', registerHint: 'Choose a username (lowercase letters, digits, _ or -) and a password of at least 8 characters.',
  createInstead: 'New here? Create an account', loginTitle: 'Log in or create an account',
  newConv: 'New', newConvTitle: 'New conversation', logout: 'Log out', search: 'Search messages',
  direct: 'Direct', group: 'Group', groupName: 'Group name', membersComma: 'Members (comma separated)',
  start: 'Start', cancel: 'Cancel', close: 'Close', back: 'Back', members: 'Members', hide: 'Hide',
  pin: 'Pin', unpin: 'Unpin', pinned: 'pinned', send: 'Send', attach: 'Attach a file', message: 'Message',
  selectConv: 'Select a conversation or start a new one', conversations: 'Conversations', searchResults: 'Search results',
  messages: 'Messages', retryNow: 'Retry now', today: 'Today', yesterday: 'Yesterday',
  add: 'Add', addMembers: 'Add members', addPlaceholder: 'Add usernames (comma separated)', membersTitle: 'Members',
  leave: 'Leave', leaveGroup: 'Leave group', leaveQ: 'Leave the group “{name}”? You will stop getting its messages.',
  hideConv: 'Hide conversation', remove: 'Remove', removeName: 'Remove {name}', removeQ: 'Remove {name} from the group?',
  youLeft: 'You left the group', notInConv: 'You are no longer in this conversation', gone: 'This conversation is not available any more',
  conversation: 'Conversation', noConvs: 'No conversations yet. Press New to start one.', noMessages: 'No messages yet',
  noHits: 'No messages found', searchPartial: 'Search stopped early; open a conversation to see more.',
  you: 'You', typing: 'typing…', typingNames: '{names} typing…', nMembers: '{n} members', online: 'online', offline: 'offline',
  recalled: 'message recalled', image: 'Image', openImage: 'Open image', imageViewer: 'Image viewer', previous: 'Previous', next: 'Next',
  mediaFailed: 'Could not load this file', loadOlder: 'Load older messages', newMessages: 'New messages', nNew: '{n} new ↓',
  unreadN: '{n} unread', messageActions: 'Message actions', copy: 'Copy text', copied: 'Copied', recall: 'Recall',
  recallQ: 'Recall this message for everyone?', noActions: 'No actions', notSent: 'Not sent', retry: 'Retry', discard: 'Discard',
  notSentWhy: 'Message not sent: {why}', tooLong: 'This message is too long.', unsupportedFile: 'Only images, audio and video can be sent.',
  uploading: 'Uploading…', uploadFailed: 'Upload failed.', needUser: 'Enter at least one username.', needGroupName: 'Enter a group name.',
  readByN: 'Read by {n} of {total}', 'status.sent': 'Sent', 'status.delivered': 'Delivered', 'status.read': 'Read', 'status.pending': 'Sending',
  'kind.image': 'Photo', 'kind.voice': 'Voice message', 'kind.video': 'Video', 'kind.file': 'File', 'kind.text': 'Message',
  'conn.connecting': 'Connecting', 'conn.syncing': 'Updating', 'conn.live': 'Connected', 'conn.offline': 'Disconnected', 'conn.nonet': 'No network',
  'conn.offlineLong': 'Cannot reach the server. Trying again in {s} s.', 'conn.nonetLong': 'You are offline. Trying again in {s} s.',
  'err.network': 'Cannot reach the server. Check your connection and try again.', 'err.slowDown': 'Too many attempts. Please wait a moment and try again.',
  'err.tooLarge': 'That is too large to send.', 'err.taken': 'That username is taken. Please choose another.', 'err.conflict': 'That already exists.',
  'err.wrongLogin': 'Wrong username or password.', 'err.session': 'Your session has ended. Please log in again.',
  'err.forbidden': 'You are not allowed to do that here.', 'err.noUser': 'No user with that name.', 'err.gone': 'That is not available any more.',
  'err.recallLate': 'It is too late to recall this message.', 'err.password': 'The password needs at least 8 characters.',
  'err.username': 'Usernames use lowercase letters, digits, _ or - (up to 32).', 'err.badInput': 'Please check what you entered.',
  'err.generic': 'Something went wrong. Please try again.',
  uploadsLabel: 'Uploads', download: 'Download', uploadingName: 'Uploading {name}', cancelUpload: 'Cancel uploading {name}', downloadFile: 'Download {name}, {size}',
  recordVoice: 'Record a voice message', stopRecording: 'Stop and send the voice message', micDenied: 'The microphone is not available.',
  loadNewer: 'Load newer messages', moreHits: 'More results', newMessage: 'New message',
  'set.notify': 'Notifications', 'set.notifyOn': 'Notify me of new messages on this device', 'set.notifyDenied': 'Notifications are blocked for this site in the browser settings.',
  'set.notifyPush': 'On: you get notifications even when the app is closed.', 'set.notifyLocal': 'On while the app is open; this browser could not subscribe to push.',
  'set.notifyOff': 'Off.', 'set.notifyUnsupported': 'This browser cannot show notifications.',
  // issue 22: replies, reactions, edits, mentions, the group panel
  reply: 'Reply', react: 'React with {emoji}', reactions: 'Reactions', edit: 'Edit', moreEmoji: 'More emoji…', emojiPicker: 'Choose an emoji',
  replyingTo: 'Replying to {name}', editing: 'Editing your message', cancelReply: 'Cancel reply', cancelEdit: 'Cancel editing',
  edited: 'edited', editedAt: 'Edited at {time}', quoteOf: 'Reply to {name}: {text}', quoteMissing: 'an earlier message',
  reactedBy: '{emoji} {n}: {names}', mentionList: 'Members to mention', mentionedYou: 'mentioned you', offlineAction: 'Not connected: try again when online.',
  groupSettings: 'Group settings', groupPanel: 'Group: {name}', rename: 'Rename', renamed: 'Group renamed.',
  'role.owner': 'owner', 'role.admin': 'admin', makeAdmin: 'Make admin', unmakeAdmin: 'Remove admin', makeAdminName: 'Make {name} an admin',
  unmakeAdminName: 'Remove {name} as admin', mute: 'Mute', unmute: 'Unmute', mutedNote: 'Muted: no notifications', saved: 'Saved.',
  'err.editLate': 'It is too late to edit this message.', 'err.notEditable': 'This message cannot be changed.',
  'err.notSender': 'Only the sender can do that.', 'err.onlyOwner': 'Only the group owner can change admins.',
  'err.onlyAdmins': 'Only the group owner or an admin can do that.', 'err.nameLen': 'A group name has 1 to 64 characters.',
};
const zh = {
  settings: '设置', welcomeTitle: '你的节点已就绪', welcomeText: '你是管理员。在“设置”里邀请其他人，然后开始会话。',
  welcomeInvite: '邀请他人', invited: '你受邀加入这个节点：请选择用户名和密码。',
  'err.badInvite': '这个邀请链接已失效，请索取新的链接。', 'err.needInvite': '这个节点需要邀请才能注册，请向管理员索取链接。',
  'set.profile': '个人资料', 'set.password': '密码', 'set.devices': '设备', 'set.invites': '邀请', 'set.admin': '管理',
  'set.displayName': '显示名称', 'set.saveName': '保存名称', 'set.saved': '已保存。', 'set.chooseAvatar': '选择图片…',
  'set.avatarPreview': '头像预览（方形裁剪）', 'set.zoom': '缩放', 'set.useAvatar': '使用这张图片',
  'set.pwOld': '当前密码', 'set.pwNew': '新密码（至少 8 个字符）', 'set.pwChange': '修改密码',
  'set.pwChanged': '密码已修改，其他设备已退出登录。', 'set.pwWrong': '当前密码不正确。',
  'set.unknownDevice': '未知设备', 'set.thisDevice': '本设备', 'set.lastSeen': '最近活动 {when}',
  'set.revoke': '撤销', 'set.revokeDevice': '撤销 {name}', 'set.revokeQ': '让这台设备退出登录？', 'set.revokeSelfQ': '让当前设备退出登录？',
  'set.inviteLink': '邀请链接', 'set.copyLink': '复制链接', 'set.qr': '邀请链接的二维码', 'set.inviteUsesLabel': '次数',
  'set.makeInvite': '创建邀请链接', 'set.inviteUses': '剩余 {left} 次（已用 {used} 次）', 'set.expires': '{when} 过期',
  'set.inviteRevokeQ': '撤销这个邀请链接？', 'set.addUser': '添加用户', 'set.userAdded': '已添加用户。',
  'set.makeAdmin': '设为管理员', 'set.unmakeAdmin': '取消管理员', 'set.disable': '停用', 'set.enable': '启用',
  'set.disabled': '已停用', 'set.delete': '删除', 'set.deleteUserQ': '删除账号 {name}？此操作无法撤销。',
  appName: 'chatnode', logIn: '登录', register: '注册', createAccount: '创建账号',
  username: '用户名', password: '密码', registerHint: '请选择用户名（小写字母、数字、_ 或 -）和至少 8 个字符的密码。',
  createInstead: '第一次使用？创建账号', loginTitle: '登录或创建账号',
  newConv: '新建', newConvTitle: '新建会话', logout: '退出登录', search: '搜索消息',
  direct: '单聊', group: '群聊', groupName: '群名称', membersComma: '成员（用逗号分隔）',
  start: '开始', cancel: '取消', close: '关闭', back: '返回', members: '成员', hide: '隐藏',
  pin: '置顶', unpin: '取消置顶', pinned: '已置顶', send: '发送', attach: '添加文件', message: '消息',
  selectConv: '选择一个会话或新建会话', conversations: '会话', searchResults: '搜索结果',
  messages: '消息', retryNow: '立即重试', today: '今天', yesterday: '昨天',
  add: '添加', addMembers: '添加成员', addPlaceholder: '添加用户名（用逗号分隔）', membersTitle: '成员',
  leave: '退出', leaveGroup: '退出群聊', leaveQ: '退出群聊“{name}”？你将不再收到它的消息。',
  hideConv: '隐藏会话', remove: '移除', removeName: '移除 {name}', removeQ: '将 {name} 移出群聊？',
  youLeft: '你已退出群聊', notInConv: '你已不在这个会话中', gone: '这个会话已不可用',
  conversation: '会话', noConvs: '还没有会话。点“新建”开始。', noMessages: '还没有消息',
  noHits: '没有找到消息', searchPartial: '搜索提前结束；打开会话查看更多。',
  you: '你', typing: '正在输入…', typingNames: '{names} 正在输入…', nMembers: '{n} 位成员', online: '在线', offline: '离线',
  recalled: '消息已撤回', image: '图片', openImage: '打开图片', imageViewer: '图片查看器', previous: '上一张', next: '下一张',
  mediaFailed: '无法加载此文件', loadOlder: '加载更早的消息', newMessages: '新消息', nNew: '{n} 条新消息 ↓',
  unreadN: '{n} 条未读', messageActions: '消息操作', copy: '复制文字', copied: '已复制', recall: '撤回',
  recallQ: '为所有人撤回这条消息？', noActions: '没有可用操作', notSent: '未发送', retry: '重试', discard: '丢弃',
  notSentWhy: '消息未发送：{why}', tooLong: '这条消息太长了。', unsupportedFile: '只能发送图片、音频和视频。',
  uploading: '正在上传…', uploadFailed: '上传失败。', needUser: '请至少输入一个用户名。', needGroupName: '请输入群名称。',
  readByN: '{total} 人中 {n} 人已读', 'status.sent': '已发送', 'status.delivered': '已送达', 'status.read': '已读', 'status.pending': '发送中',
  'kind.image': '图片', 'kind.voice': '语音消息', 'kind.video': '视频', 'kind.file': '文件', 'kind.text': '消息',
  'conn.connecting': '正在连接', 'conn.syncing': '正在更新', 'conn.live': '已连接', 'conn.offline': '已断开', 'conn.nonet': '无网络',
  'conn.offlineLong': '无法连接服务器。{s} 秒后重试。', 'conn.nonetLong': '你已离线。{s} 秒后重试。',
  'err.network': '无法连接服务器。请检查网络后重试。', 'err.slowDown': '尝试次数太多，请稍后再试。',
  'err.tooLarge': '内容太大，无法发送。', 'err.taken': '这个用户名已被使用，请换一个。', 'err.conflict': '已经存在。',
  'err.wrongLogin': '用户名或密码错误。', 'err.session': '登录已过期，请重新登录。',
  'err.forbidden': '你没有权限这样做。', 'err.noUser': '没有这个用户。', 'err.gone': '已不可用。',
  'err.recallLate': '已超过撤回时限。', 'err.password': '密码至少需要 8 个字符。',
  'err.username': '用户名只能使用小写字母、数字、_ 或 -（最多 32 个）。', 'err.badInput': '请检查输入的内容。',
  'err.generic': '出了点问题，请重试。',
  uploadsLabel: '上传', download: '下载', uploadingName: '正在上传 {name}', cancelUpload: '取消上传 {name}', downloadFile: '下载 {name}，{size}',
  recordVoice: '录制语音消息', stopRecording: '停止并发送语音消息', micDenied: '麦克风不可用。',
  loadNewer: '加载更新的消息', moreHits: '更多结果', newMessage: '新消息',
  'set.notify': '通知', 'set.notifyOn': '在这台设备上通知我新消息', 'set.notifyDenied': '浏览器设置已禁止本站的通知。',
  'set.notifyPush': '已开启：应用关闭时也会收到通知。', 'set.notifyLocal': '应用打开时开启；这个浏览器无法订阅推送。',
  'set.notifyOff': '已关闭。', 'set.notifyUnsupported': '这个浏览器无法显示通知。',
  // issue 22
  reply: '回复', react: '用 {emoji} 回应', reactions: '回应', edit: '编辑', moreEmoji: '更多表情…', emojiPicker: '选择表情',
  replyingTo: '回复 {name}', editing: '正在编辑你的消息', cancelReply: '取消回复', cancelEdit: '取消编辑',
  edited: '已编辑', editedAt: '编辑于 {time}', quoteOf: '回复 {name}：{text}', quoteMissing: '之前的一条消息',
  reactedBy: '{emoji} {n}：{names}', mentionList: '可提及的成员', mentionedYou: '有人@你', offlineAction: '未连接：请联网后重试。',
  groupSettings: '群设置', groupPanel: '群：{name}', rename: '改名', renamed: '群名已修改。',
  'role.owner': '群主', 'role.admin': '管理员', makeAdmin: '设为管理员', unmakeAdmin: '取消管理员', makeAdminName: '将 {name} 设为管理员',
  unmakeAdminName: '取消 {name} 的管理员', mute: '免打扰', unmute: '取消免打扰', mutedNote: '已免打扰：不发通知', saved: '已保存。',
  'err.editLate': '已超过编辑时限。', 'err.notEditable': '这条消息不能修改。',
  'err.notSender': '只有发送者可以这样做。', 'err.onlyOwner': '只有群主可以修改管理员。',
  'err.onlyAdmins': '只有群主或管理员可以这样做。', 'err.nameLen': '群名称需要 1 到 64 个字符。',
};

const pick = () => {
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const x = String(l).toLowerCase();
    if (x.startsWith('zh')) return 'zh-CN';
    if (x.startsWith('en')) return 'en';
  }
  return 'en';
};
export const lang = pick();
const table = lang === 'zh-CN' ? zh : en;

export function t(key, vars) {
  let s = table[key] ?? en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] ?? m));
  return s;
}

// Fills the static page: data-i18n (text), data-i18n-label (aria-label), data-i18n-ph (placeholder).
export function applyStrings() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of document.querySelectorAll('[data-i18n-ph]')) el.setAttribute('placeholder', t(el.dataset.i18nPh));
  for (const el of document.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.dataset.i18nTitle));
}
