export { RegistroProvider, useRegistroClient } from './context';
export { useAsyncScraping } from './useAsyncScraping';
export type { AsyncScraping, AsyncScrapingState, RecordAnswer, ScrapingAnswer, ScrapingStatus } from './useAsyncScraping';
export { AsyncScrapingModal } from './AsyncScrapingModal';
export type { AsyncScrapingModalProps } from './AsyncScrapingModal';
export { useQueueStatus } from './useQueueStatus';
export type { QueueState } from './useQueueStatus';
export { DEFAULT_TEXTS, describeErrorPt } from './texts';
export type { ModalTexts } from './texts';
