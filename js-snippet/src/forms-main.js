// Entry of the forms script: the service puts the site's form configuration in place of
// __CONSENT_FORMS__ (see consent_service/sites/public_config.py `forms_script_config`).
import { boot } from "./forms.js";

boot(__CONSENT_FORMS__);
