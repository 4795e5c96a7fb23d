import { attachmentRefs } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import type { HubFeature } from '../hub.js';
import type { AttachmentReference, AttachmentStore } from './types.js';

/**
 * Events name the files they show in `data.attachments` (docs/runs.md#attachments). On publish the
 * shape is checked (a batch with one bad reference stores nothing, as with any invalid event); once
 * stored, each referenced attachment remembers the newest event that references it, so that retention
 * keeps the file exactly while that event is retained.
 */
export function attachmentReferences(store: AttachmentStore): HubFeature {
  return {
    beforeAppend(_channel, inputs) {
      for (const [index, input] of inputs.entries()) {
        const refs = attachmentRefs(input.event.data);
        if (typeof refs === 'string') throw new HeraldError('invalid_event', `${inputs.length > 1 ? `event ${index}: ` : ''}${refs}`);
      }
    },
    afterAppend(channel, epoch, stored) {
      const references: AttachmentReference[] = [];
      for (const event of stored) {
        // Most events name no attachment: only those whose text says so are parsed again.
        if (!event.json.includes('"attachments"')) continue;
        const refs = attachmentRefs((JSON.parse(event.json) as { data?: unknown }).data);
        if (typeof refs !== 'string') for (const ref of refs) references.push({ id: ref.id, epoch, offset: event.offset });
      }
      if (references.length > 0) store.referenced(channel, references);
    },
  };
}
