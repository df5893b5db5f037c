/* The language tabs django-modeltranslation builds with jQuery UI, made one control each.
 *
 * jQuery UI makes each <li> the tab (role="tab", focusable, arrow keys) and leaves a link inside it, so a
 * screen reader meets a control within a control (axe-core: nested-interactive). The link's address is only
 * the panel it shows, which jQuery UI has read once it has built the tabs: the link is then left without one,
 * and stays clickable (jQuery UI listens on it). A tab without an address is a tab on this page, not one to
 * load. Loaded after jQuery UI and before the page is ready, when modeltranslation builds its tabs.
 */
(function () {
  "use strict";
  var $ = window.jQuery || window.django.jQuery;
  if (!$ || !$.ui || !$.ui.tabs) {
    return;
  }
  $.widget("ui.tabs", $.ui.tabs, {
    _create: function () {
      this._super();
      // Focus goes to the tab itself, as with the keyboard.
      this.anchors.removeAttr("href tabindex");
    },
    _isLocal: function (anchor) {
      return !anchor.hasAttribute("href") || this._super(anchor);
    },
  });
})();
