export { categoryName, labelsPerPage, type DeviceLabel } from './layout.ts'
export { labelPagesSvg, labelSheetSvg } from './svg.ts'
export { printLabelPages } from './print.ts'
